"""Verify, then trust: the node proves to itself that a query was authorized and logged.

A gateway signature alone proves only that someone holds the gateway's key. Before any data
is touched the node checks the evidence that came with the query against what it trusts on
its own (agency_node.trust), in this order; the first failure refuses the query:

1. the evidence is canonical, of the exact shape, for this query (it is not signed as a
   whole: the gateway's signature would add nothing to what steps 2-5 prove from the parts'
   own signatures, and the gateway is already known from its mTLS certificate and its signed
   query);
2. its checkpoint is signed by the ledger's key and cosigned by a quorum of the witnesses
   this node trusts, with fresh cosignatures (``max_checkpoint_age_seconds``);
3. the decision entry is included in that checkpoint, is a ``query_decision`` logged
   recently, names this query id, permits this node, and matches the query's plate (by the
   opening of its commitment), window, purpose, case number, requester and authority;
4. with a warrant: the court-signed warrant verifies with a court key this node trusts, the
   court's jurisdiction covers the requesting agency, it names the requester, lists the plate,
   contains the window, matches the purpose, reaches this node, is in force; and its
   registration entry is included in the checkpoint, binds this very warrant and is the entry
   the decision cites;
5. exigent: the approval entry is included, names this officer, plate, purpose and case, is
   unexpired, and the window stays within this node's exigent look-back; and the supervisor's
   consent verifies with the supervisor's own certificate, which chains to the federation
   root this node trusts, and says the same (its hash is the one the approval entry logged).

Failures raise EvidenceRefused with the step and the reason, for the node's log and access
log; the caller only ever learns a fixed message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from agency_node.trust import NodeTrust
from agency_node.verified_cache import VerifiedCache
from alprfed import canonical
from alprfed.canonical import CanonicalError
from alprfed.errors import LedgerVerificationError, PermissionDenied, VerificationError
from alprfed.ledger.entry import LedgerEntryView, decode_entry, plate_commitment
from alprfed.ledger.merkle import leaf_hash
from alprfed.ledger.proof import verify_inclusion
from alprfed.ledger.witness_policy import WitnessedCheckpoint, WitnessPolicyError
from alprfed.messages import SearchQuery
from alprfed.messages.consent import verify_consent
from alprfed.messages.evidence import LoggedEntry, SearchEvidence
from alprfed.models import EXIGENT_PURPOSES, Agency, AgencyId
from alprfed.policy.exigent import APPROVAL_LIFETIME_S
from alprfed.policy.warrants import Warrant, court_covers, open_warrant
from alprfed.signing import Envelope

MAX_DECISION_AGE_S = 600  # a decision entry is used within minutes of being logged
MAX_CLOCK_SKEW_S = 30
CHECKPOINT_CACHE = 64  # verified checkpoint notes remembered (many queries share one)
WARRANT_CACHE = 1024  # verified warrants remembered (one serves many queries; ~1 KB each)


class EvidenceRefused(PermissionDenied):
    """The query's evidence does not prove it was authorized and logged. The caller sees only
    the fixed public message; ``step`` and the detail go to the node's logs."""

    def __init__(self, step: str, detail: str) -> None:
        super().__init__(f"step {step}: {detail}")
        self.step = step
        self.detail = detail

    def public_message(self) -> str:
        return "the query's evidence does not authorize it"


@dataclass(frozen=True)
class VerifiedEvidence:
    decision_index: int
    checkpoint_size: int
    prospective: bool = False  # the warrant relied on reaches past its issuance (tracking)


class EvidenceVerifier:
    def __init__(
        self,
        *,
        node_id: str,
        node_state: str,
        trust: NodeTrust,
        now: Callable[[], int],
        person_roots: Sequence[x509.Certificate] = (),
    ) -> None:
        """``person_roots``: the federation roots people's certificates chain to, for the
        supervisor's signed consent to an exigent query (the node's own TLS trust bundle)."""
        self._node_id = node_id
        self._node_state = node_state
        self._trust = trust
        self._court_keys = {c.court_id: c.key for c in trust.courts.values()}
        self._now = now
        self._person_roots = tuple(person_roots)
        self._checkpoints = VerifiedCache[str, WitnessedCheckpoint](CHECKPOINT_CACHE)
        self._warrants = VerifiedCache[tuple[bytes, str, bytes], Warrant](WARRANT_CACHE)

    def verify(self, query: SearchQuery, evidence: bytes | None) -> VerifiedEvidence:
        """Check ``evidence`` (the canonical bundle, None when none came) for ``query``.

        Raises: EvidenceRefused naming the step that failed."""
        try:
            return self._verify(query, evidence)
        except EvidenceRefused:
            raise
        except (AttributeError, TypeError, KeyError, ValueError) as exc:
            # An entry that verifies but whose body has the wrong shape: refused like the rest.
            raise EvidenceRefused("3-5", f"a malformed entry: {type(exc).__name__}") from None

    def _verify(self, query: SearchQuery, bundle: bytes | None) -> VerifiedEvidence:
        now = self._now()
        evidence = self._evidence(query, bundle)  # 1
        witnessed = self._checkpoint(evidence.checkpoint, now)  # 2
        decision = self._included(evidence.decision, witnessed, "3")
        self._check_decision(query, evidence, decision, now)  # 3
        body = decision.body
        prospective = False
        if query.warrant_id is not None:
            prospective = self._check_warrant(query, evidence, witnessed, body, now)  # 4
        elif query.exigent:
            self._check_exigent(query, evidence, witnessed, body, now)  # 5
        else:
            raise EvidenceRefused("3", "the query cites neither a warrant nor exigency")
        return VerifiedEvidence(decision.index, witnessed.checkpoint.size, prospective)

    # --- 1. the bundle ----------------------------------------------------------------------

    def _evidence(self, query: SearchQuery, bundle: bytes | None) -> SearchEvidence:
        if not bundle:
            raise EvidenceRefused("1", "no evidence came with the query")
        try:
            evidence = SearchEvidence.from_canonical(canonical.decode(bundle))
        except (VerificationError, CanonicalError) as exc:
            raise EvidenceRefused("1", str(exc)) from None
        if evidence.query_id != query.query_id:
            raise EvidenceRefused("1", "the evidence is for another query")
        return evidence

    # --- 2. the checkpoint ------------------------------------------------------------------

    def _checkpoint(self, note: str, now: int) -> WitnessedCheckpoint:
        cached = self._checkpoints.get(note)
        if cached is not None and self._fresh(cached, now):
            return cached
        try:
            witnessed = self._trust.policy.check(
                note,
                origin=self._trust.origin,
                now=now,
                max_age_s=self._trust.max_checkpoint_age_s,
                max_skew_s=MAX_CLOCK_SKEW_S,
                verify_all=False,  # a quorum suffices here; auditors check every one
            )
        except WitnessPolicyError as exc:
            raise EvidenceRefused("2", str(exc)) from None
        self._checkpoints.put(note, witnessed)
        return witnessed

    def _fresh(self, witnessed: WitnessedCheckpoint, now: int) -> bool:
        age = self._trust.max_checkpoint_age_s
        fresh = [
            name
            for name, timestamp in witnessed.cosigners.items()
            if now - age <= timestamp <= now + MAX_CLOCK_SKEW_S
        ]
        return self._trust.policy.quorum_met(fresh)

    @staticmethod
    def _included(
        logged: LoggedEntry, witnessed: WitnessedCheckpoint, step: str
    ) -> LedgerEntryView:
        checkpoint = witnessed.checkpoint
        try:
            verify_inclusion(
                logged.index,
                checkpoint.size,
                leaf_hash(logged.entry),
                logged.proof,
                checkpoint.root,
            )
            view = decode_entry(logged.entry)
        except LedgerVerificationError as exc:
            raise EvidenceRefused(step, f"entry {logged.index}: {exc}") from None
        if view.index != logged.index:
            raise EvidenceRefused(step, f"the entry says it is entry {view.index}")
        return view

    # --- 3. the decision --------------------------------------------------------------------

    def _check_decision(
        self, query: SearchQuery, evidence: SearchEvidence, decision: LedgerEntryView, now: int
    ) -> None:
        body = decision.body
        if decision.kind != "query_decision":
            raise EvidenceRefused("3", f"entry {decision.index} is a {decision.kind}")
        if not now - MAX_DECISION_AGE_S <= decision.time <= now + MAX_CLOCK_SKEW_S:
            raise EvidenceRefused("3", f"the decision was logged at {decision.time}, not just now")
        requester = body.get("requester") or {}
        permitted = any(
            isinstance(d, dict) and d.get("agency") == self._node_id and d.get("allowed") is True
            for d in body.get("decisions") or ()
        )
        authority = "warrant" if query.warrant_id is not None else "exigent"
        mismatches = [
            name
            for name, ok in (
                ("query id", body.get("query_id") == query.query_id),
                ("permission for this node", permitted),
                ("requesting agency", requester.get("organization") == query.requester.agency_id),
                ("officer", requester.get("principal") == query.requester.officer_id),
                ("purpose", body.get("purpose") == query.purpose.value),
                ("case number", body.get("case_number") == query.case_number),
                ("window", body.get("window") == query.window.to_canonical()),
                ("authority", body.get("authority") == authority),
                ("warrant", body.get("warrant_id") == query.warrant_id),
            )
            if not ok
        ]
        if mismatches:
            raise EvidenceRefused(
                "3", f"decision entry {decision.index} differs: {', '.join(mismatches)}"
            )
        commitments = decision.commitments
        if not commitments or not hmac.compare_digest(
            commitments[0], plate_commitment(evidence.plate_salt, query.plate)
        ):
            raise EvidenceRefused("3", "the decision entry does not commit to the queried plate")

    # --- 4. the warrant ---------------------------------------------------------------------

    def _check_warrant(
        self,
        query: SearchQuery,
        evidence: SearchEvidence,
        witnessed: WitnessedCheckpoint,
        decision: Mapping[str, Any],
        now: int,
    ) -> bool:
        """Returns whether the warrant is prospective (for the node's law)."""
        if evidence.warrant is None or evidence.warrant_entry is None:
            raise EvidenceRefused("4", "the query cites a warrant but the evidence holds none")
        # Hashed once: the warrant cache's key, and what the registration must have logged.
        payload_sha256 = hashlib.sha256(evidence.warrant.payload).digest()
        try:
            warrant = self._open_warrant(evidence.warrant, payload_sha256)
        except (VerificationError, CanonicalError) as exc:
            raise EvidenceRefused("4", f"the warrant: {exc}") from None
        except Exception as exc:  # a malformed warrant payload (InvalidRequest)
            raise EvidenceRefused("4", f"the warrant is malformed: {exc}") from None
        problems = self._warrant_problems(query, warrant, now)
        if problems:
            raise EvidenceRefused("4", f"warrant {warrant.warrant_id}: {'; '.join(problems)}")
        registration = self._included(evidence.warrant_entry, witnessed, "4")
        body = registration.body
        if (
            registration.kind != "warrant_registered"
            or body.get("warrant_id") != warrant.warrant_id
            or body.get("payload_sha256") != payload_sha256.hex()
            or body.get("court_key_id") != evidence.warrant.key_id
        ):
            raise EvidenceRefused("4", "the registration entry does not register this warrant")
        if decision.get("warrant_entry") != registration.index:
            raise EvidenceRefused("4", "the decision cites another registration entry")
        return warrant.prospective

    def _open_warrant(self, envelope: Envelope, payload_sha256: bytes) -> Warrant:
        """open_warrant, remembering warrants already verified: one warrant serves many
        queries, and its signature cannot change (``payload_sha256``: of its payload).
        Time-dependent checks run every time."""
        key = (payload_sha256, envelope.key_id, envelope.signature)
        warrant = self._warrants.get(key)
        if warrant is None:
            warrant = open_warrant(envelope, self._court_keys)
            self._warrants.put(key, warrant)
        return warrant

    def _warrant_problems(self, query: SearchQuery, warrant: Warrant, now: int) -> list[str]:
        requester = query.requester
        covers = court_covers(
            self._trust.courts[warrant.court],
            Agency(
                AgencyId(requester.agency_id), requester.agency_id, requester.state, requester.kind
            ),
        )
        checks = (
            (warrant.warrant_id == query.warrant_id, "is not the warrant the query cites"),
            (covers, f"{warrant.court} has no jurisdiction over {requester.agency_id}"),
            (warrant.agency == requester.agency_id, f"authorizes {warrant.agency}"),
            (query.plate in warrant.plates, "does not list the plate"),
            (warrant.window.contains(query.window), "does not cover the window"),
            (warrant.offense == query.purpose, "is for another offense"),
            (warrant.issued_at <= now + MAX_CLOCK_SKEW_S, "is not yet in force"),
            (now < warrant.expires_at, "has expired"),
            (
                (not warrant.limits.agencies or self._node_id in warrant.limits.agencies)
                and (not warrant.limits.states or self._node_state in warrant.limits.states),
                "does not reach this node",
            ),
        )
        return [message for ok, message in checks if not ok]

    # --- 5. exigent -------------------------------------------------------------------------

    def _check_exigent(
        self,
        query: SearchQuery,
        evidence: SearchEvidence,
        witnessed: WitnessedCheckpoint,
        decision: Mapping[str, Any],
        now: int,
    ) -> None:
        if evidence.exigent_entry is None:
            raise EvidenceRefused("5", "an exigent query without its logged approval")
        approval = self._included(evidence.exigent_entry, witnessed, "5")
        body = approval.body
        problems = [
            message
            for ok, message in (
                (approval.kind == "exigent_approved", "is not an exigent approval"),
                (
                    decision.get("exigent_entry") == approval.index,
                    "is not the one the decision cites",
                ),
                (body.get("agency") == query.requester.agency_id, "is for another agency"),
                (body.get("officer") == query.requester.officer_id, "is for another officer"),
                (body.get("supervisor") != query.requester.officer_id, "was self-approved"),
                (query.purpose in EXIGENT_PURPOSES, "is for a purpose that is not exigent"),
                (body.get("purpose") == query.purpose.value, "is for another purpose"),
                (body.get("case_number") == query.case_number, "is for another case"),
                (
                    isinstance(body.get("expires_at"), int) and now < body["expires_at"],
                    "has expired",
                ),
                (
                    now - approval.time <= APPROVAL_LIFETIME_S + MAX_CLOCK_SKEW_S,
                    "was logged more than an hour ago",
                ),
                (
                    query.window.start >= now - self._trust.exigent_lookback_s,
                    "the window reaches back further than exigency allows here",
                ),
                (
                    evidence.exigent_plate_salt is not None
                    and bool(approval.commitments)
                    and hmac.compare_digest(
                        approval.commitments[0],
                        plate_commitment(evidence.exigent_plate_salt, query.plate),
                    ),
                    "is for another plate",
                ),
            )
            if not ok
        ]
        if problems:
            raise EvidenceRefused("5", f"the exigent approval {'; '.join(problems)}")
        self._check_consent(query, evidence, body, now)

    def _check_consent(
        self, query: SearchQuery, evidence: SearchEvidence, approval: Mapping[str, Any], now: int
    ) -> None:
        """The supervisor signed this approval with their own certificate: the gateway cannot
        have made it up."""
        if evidence.consent is None or not evidence.certificate_chain:
            raise EvidenceRefused("5", "the approval comes without the supervisor's signed consent")
        if not self._person_roots:
            raise EvidenceRefused("5", "this node has no federation root to check a consent")
        try:
            consent, signer = verify_consent(
                evidence.consent, evidence.certificate_chain, self._person_roots, now=now
            )
        except VerificationError as exc:
            raise EvidenceRefused("5", f"the supervisor's consent: {exc}") from None
        problems = [
            message
            for ok, message in (
                (
                    approval.get("consent_sha256")
                    == hashlib.sha256(evidence.consent.payload).hexdigest(),
                    "is not the consent the approval entry logged",
                ),
                (signer.organization == query.requester.agency_id, "is from another agency"),
                (signer.principal == approval.get("supervisor"), "is not the logged supervisor's"),
                (consent.officer == query.requester.officer_id, "is for another officer"),
                (consent.supervisor != query.requester.officer_id, "is self-signed"),
                (consent.plate == query.plate, "is for another plate"),
                (consent.purpose == query.purpose.value, "is for another purpose"),
                (consent.case_number == query.case_number, "is for another case"),
                (
                    now - APPROVAL_LIFETIME_S <= consent.signed_at <= now + MAX_CLOCK_SKEW_S,
                    "was not signed within the last hour",
                ),
            )
            if not ok
        ]
        if problems:
            raise EvidenceRefused("5", f"the supervisor's consent {'; '.join(problems)}")
