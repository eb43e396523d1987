"""A stand-in for the gateway's ledger side, for tests that talk to nodes directly.

It keeps a real ledger (LedgerStore on SQLite, published as signed: quorum none), registers
court-signed warrants in it and logs decision entries the way gateway.audit does, then builds
the evidence bundle with the gateway's own gateway.evidence.build_evidence. Attacks are made
by asking it for evidence that is subtly wrong.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alprfed import canonical, wire
from alprfed.client import exigent_approval_request as approval_request
from alprfed.clock import Clock
from alprfed.config import TLSConfig
from alprfed.ledger import LedgerStore, PendingEntry
from alprfed.ledger.note import NoteVerifier
from alprfed.messages import SearchQuery
from alprfed.messages.consent import ExigentConsent
from alprfed.messages.evidence import SearchEvidence
from alprfed.models import AgencyKind
from alprfed.policy.warrants import Warrant
from alprfed.signing import WARRANT_TYPE, Envelope, SigningKey
from gateway.evidence import build_evidence

ORIGIN = "authority.test.example/ledger"
COURT = "santa-clara-superior"  # California's
FEDERAL_COURT = "us-district-dc"
OTHER_STATES = ("WA", "IL", "VA", "MN", "TX")  # each gets a state court of its own
DAY = 86_400


class Authority:
    def __init__(self, directory: Path, gateway_key: SigningKey, clock: Clock) -> None:
        self.directory = directory
        self.gateway_key = gateway_key
        self.clock = clock
        self.ledger_key = SigningKey.generate()
        self.court_key = SigningKey.generate()
        self.federal_court_key = SigningKey.generate()
        self.state_court_keys = {state: SigningKey.generate() for state in OTHER_STATES}
        self.store = LedgerStore.open(
            f"sqlite:///{directory / 'authority-ledger.db'}",
            origin=ORIGIN,
            signer=self.ledger_key,
            clock=clock,
        )
        self.vkey = NoteVerifier.for_key(ORIGIN, self.ledger_key.public).to_vkey()
        self.policy_file = directory / "authority-policy.txt"
        self.policy_file.write_text(f"log {self.vkey}\nquorum none\n")
        self._warrants: dict[str, tuple[Envelope, int]] = {}

    def close(self) -> None:
        self.store.close()

    def trust_file(self, *, auditors: Sequence[str] = ("ca-state-auditor",)) -> Path:
        path = self.directory / "trust.toml"
        path.write_text(
            f'witness_policy = "{self.policy_file}"\nallow_unwitnessed = true\n'
            f"auditors = [{', '.join(repr(a) for a in auditors)}]\n\n"
            f'[[court]]\nid = "{COURT}"\nname = "Santa Clara Superior Court"\n'
            f'key = "{self.court_key.public.to_text()}"\nkind = "state"\nstates = ["CA"]\n\n'
            f'[[court]]\nid = "{FEDERAL_COURT}"\nname = "U.S. District Court for D.C."\n'
            f'key = "{self.federal_court_key.public.to_text()}"\nkind = "federal"\n'
            'states = ["DC"]\n'
            + "".join(
                f'\n[[court]]\nid = "court-{state.lower()}"\nname = "A court of {state}"\n'
                f'key = "{key.public.to_text()}"\nkind = "state"\nstates = ["{state}"]\n'
                for state, key in self.state_court_keys.items()
            )
        )
        return path

    def _append(self, kind: str, body: dict[str, Any], plates: tuple[str, ...]) -> int:
        (entry,) = self.store.append_batch([PendingEntry(kind, body, plates)])
        return entry.index

    def warrant_for(self, query: SearchQuery, **overrides: object) -> tuple[Envelope, int]:
        """The court-signed, registered warrant the query cites (made on first use)."""
        key = query.warrant_id or ""
        if key in self._warrants and not overrides:
            return self._warrants[key]
        now = self.clock.now()
        court, court_key = self._court_for(query)
        fields: dict[str, object] = dict(
            warrant_id=key,
            court=court,
            judge="Hon. A. Rivera",
            issued_at=now - 60,
            expires_at=now + 30 * DAY,
            agency=query.requester.agency_id,
            plates=(query.plate,),
            window=query.window,
            offense=query.purpose,
            prospective=query.window.end > now - 60,
            salt=secrets.token_hex(32),
        )
        fields.update(overrides)
        signer: SigningKey = fields.pop("signer", court_key)  # type: ignore[assignment]
        warrant = Warrant(**fields)  # type: ignore[arg-type]
        envelope = signer.sign_envelope(WARRANT_TYPE, warrant.to_canonical())
        index = self._append(
            "warrant_registered",
            {
                "warrant_id": warrant.warrant_id,
                "court": warrant.court,
                "payload_sha256": hashlib.sha256(envelope.payload).hexdigest(),
                "court_key_id": envelope.key_id,
            },
            warrant.plates,
        )
        if not overrides:
            self._warrants[key] = (envelope, index)
        return envelope, index

    def _court_for(self, query: SearchQuery) -> tuple[str, SigningKey]:
        """A court with jurisdiction over the requesting agency."""
        if query.requester.kind == AgencyKind.FEDERAL:
            return FEDERAL_COURT, self.federal_court_key
        state = query.requester.state
        if state in self.state_court_keys:
            return f"court-{state.lower()}", self.state_court_keys[state]
        return COURT, self.court_key

    def approve(
        self, query: SearchQuery, person: TLSConfig, **changes: object
    ) -> tuple[int, Envelope, bytes]:
        """Log an exigent approval for ``query`` as the gateway would, with the consent signed
        by ``person``'s own certificate key; returns (entry index, consent, chain)."""
        request = approval_request(
            officer=query.requester.officer_id,
            plate=query.plate,
            purpose=query.purpose.value,
            case_number=query.case_number,
            note="",
            tls=person,
        )
        consent = wire.envelope_from_pb(request.consent, field="consent")
        signer = ExigentConsent.from_canonical(canonical.decode(consent.payload))
        now = self.clock.now()
        body: dict[str, Any] = {
            "approval_id": "ex-" + secrets.token_hex(8),
            "agency": signer.agency,
            "supervisor": signer.supervisor,
            "officer": query.requester.officer_id,
            "purpose": query.purpose.value,
            "case_number": query.case_number,
            "approved_at": now,
            "expires_at": now + 3600,
            "consent_sha256": hashlib.sha256(consent.payload).hexdigest(),
            "consent_key_id": consent.key_id,
        }
        body.update(changes)
        index = self._append("exigent_approved", body, (query.plate,))
        return index, consent, request.certificate_chain

    def decide(
        self,
        query: SearchQuery,
        *,
        permitted: Sequence[str] | None = None,
        plate: str | None = None,
        exigent_entry: int | None = None,
        **changes: object,
    ) -> int:
        """Log a query_decision for ``query`` as the gateway would; ``changes`` alter the body
        and ``plate`` the plate it commits to."""
        allowed = set(query.addressees if permitted is None else permitted)
        warrant_entry = self.warrant_for(query)[1] if query.warrant_id else None
        body: dict[str, Any] = {
            "query_id": query.query_id,
            "requester": {
                "organization": query.requester.agency_id,
                "principal": query.requester.officer_id,
                "kind": "person",
                "verified": True,
            },
            "purpose": query.purpose.value,
            "case_number": query.case_number,
            "window": query.window.to_canonical(),
            "authority": "warrant" if query.warrant_id else "exigent",
            "warrant_id": query.warrant_id,
            "warrant_entry": warrant_entry,
            "exigent_entry": exigent_entry,
            "decisions": [
                {"agency": a, "allowed": a in allowed, "refused_by": [], "rules_applied": []}
                for a in sorted({*query.addressees, *allowed})
            ],
        }
        body.update(changes)
        return self._append("query_decision", body, (plate or query.plate,))

    def evidence(self, query: SearchQuery, **how: Any) -> bytes:
        """The evidence for ``query`` as the node receives it (see ``bundle``)."""
        return canonical.encode(self.bundle(query, **how).to_canonical())

    def bundle(
        self,
        query: SearchQuery,
        *,
        decision_index: int | None = None,
        warrant: tuple[Envelope, int] | None = None,
        checkpoint: str | None = None,
        exigent: tuple[int, Envelope | None, bytes] | None = None,
        **decision_changes: object,
    ) -> SearchEvidence:
        """Evidence for ``query``: by default exactly what an honest gateway sends."""
        if exigent is not None:
            decision_changes.setdefault("exigent_entry", exigent[0])
        index = (
            decision_index if decision_index is not None else self.decide(query, **decision_changes)  # type: ignore[arg-type]
        )
        cited = warrant or (self.warrant_for(query) if query.warrant_id else None)
        return build_evidence(
            self.store,
            query_id=query.query_id,
            checkpoint=checkpoint or self.store.latest_checkpoint(),
            decision_index=index,
            warrant=cited[0] if cited else None,
            warrant_index=cited[1] if cited else None,
            approval_index=exigent[0] if exigent else None,
            consent=exigent[1] if exigent else None,
            certificate_chain=exigent[2] if exigent else b"",
        )
