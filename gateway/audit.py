"""The one audit interface: every gateway decision reaches the ledger through this class.

Each method builds one entry body (documented field by field in docs/LEDGER.md) and appends it
through the ledger writer, which commits it with a signed checkpoint before returning. Callers
append *before* they act or answer: a query's decision is in the ledger before anything is sent
to a node, and its outcome before the officer sees a result. If the ledger cannot record, the
gateway refuses to act (fail closed).

No plate ever appears in a body: plates are passed separately and the ledger stores only salted
commitments to them.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Mapping, Sequence
from typing import Protocol

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.ledger import AppendedEntry
from alprfed.ledger.entry import Effect
from alprfed.messages import PurgeReport
from alprfed.policy.bundle import PolicyBundle, document_bodies
from alprfed.policy.decision import QueryDecision, QueryFacts
from alprfed.policy.warrants import Warrant
from alprfed.rpc.identity import Identity
from alprfed.signing import Envelope

MAX_RECORDED_ERROR = 300


class Appender(Protocol):
    async def append(
        self,
        kind: str,
        body: dict[str, JSONValue],
        plates: Sequence[str] = (),
        *,
        effect: Effect | None = None,
    ) -> AppendedEntry: ...


def envelope_record(envelope: Envelope) -> dict[str, JSONValue]:
    """A signed message as the ledger keeps it: verifiable later without this gateway."""
    return {
        "payload_type": envelope.payload_type,
        "payload": canonical.decode(envelope.payload),
        "key_id": envelope.key_id,
        "signature": base64.b64encode(envelope.signature).decode("ascii"),
    }


def requester_record(identity: Identity | None) -> dict[str, JSONValue] | None:
    if identity is None:
        return None
    return {
        "organization": identity.organization,
        "principal": identity.principal,
        "kind": identity.kind.value,
        "verified": identity.verified,
    }


class AuditTrail:
    def __init__(self, appender: Appender) -> None:
        self._append = appender.append

    async def policy_bundle(
        self, bundle: PolicyBundle, previous: str | None, published: Mapping[str, list[int]]
    ) -> tuple[AppendedEntry, dict[str, list[int]]]:
        """Publish the bundle: first each document not yet in the ledger (one entry, or one per
        part of a large one), then the bundle entry naming, per path, the entries holding it.

        ``published`` maps a document's SHA-256 to the entries that already hold it (from this
        gateway's earlier publications); those are named, not written again. Returns the
        bundle entry and the SHA-256 -> entry indexes map now published.
        """
        texts = bundle.published_texts()
        hashes = bundle.document_hashes()
        missing = sorted(p for p, h in hashes.items() if h not in published)
        parts = [(p, body) for p in missing for body in document_bodies(p, texts[p])]
        # Concurrent appends share the writer's batches: a few commits for all the documents.
        written = await asyncio.gather(*(self._append("policy_document", b) for _, b in parts))
        now_published = dict(published)
        for path in missing:
            now_published[hashes[path]] = []
        for (path, _), entry in zip(parts, written, strict=True):
            now_published[hashes[path]].append(entry.index)
        entry = await self._append(
            "policy_bundle",
            {
                "bundle_sha256": bundle.digest,
                "previous_sha256": previous,
                "bundle": bundle.to_canonical(),
                "document_entries": {p: list(now_published[h]) for p, h in sorted(hashes.items())},
            },
        )
        return entry, now_published

    async def key_rotation(self, role: str, old: str | None, new: str) -> AppendedEntry:
        return await self._append("key_rotation", {"role": role, "old": old, "new": new})

    async def query_rejected(
        self,
        *,
        identity: Identity | None,
        status: str,
        error: str,
        request: dict[str, JSONValue],
        plate: str,
        received_at: int,
    ) -> AppendedEntry:
        """A request refused before any gate ran (malformed, or caller not authenticated)."""
        # A plate that does not even normalize is not committed (the ledger takes only
        # plates); the entry says so, so an auditor knows why it has no commitment.
        return await self._append(
            "query_rejected",
            {
                "requester": requester_record(identity),
                "status": status,
                "error": error[:MAX_RECORDED_ERROR],
                "request": request,
                "plate_committed": bool(plate),
                "received_at": received_at,
            },
            plates=(plate,) if plate else (),
        )

    async def query_decision(
        self,
        *,
        query_id: str,
        identity: Identity,
        facts: QueryFacts,
        purpose_note: str,
        decision: QueryDecision,
        bundle_sha256: str,
        warrant_entry: int | None,
        warrant_plate_slot: int | None,
        approval_entry: int | None,
        approval_plate_slot: int | None,
    ) -> AppendedEntry:
        return await self._append(
            "query_decision",
            {
                "query_id": query_id,
                "requester": requester_record(identity),
                "purpose": facts.purpose.value,
                "purpose_note": purpose_note,
                "case_number": facts.case_number,
                "window": facts.window.to_canonical(),
                "authority": decision.authority,
                "warrant_id": facts.warrant_id,
                "warrant_entry": warrant_entry,
                "warrant_plate_slot": warrant_plate_slot,
                "exigent_approval_id": facts.exigent_approval_id,
                "exigent_entry": approval_entry,
                "exigent_plate_slot": approval_plate_slot,
                "targets": list(facts.targets),
                "decisions": [
                    {
                        "agency": d.agency_id,
                        "allowed": d.allowed,
                        "refused_by": [r.rule_id for r in d.reasons],
                        "rules_applied": list(d.rules_applied),
                    }
                    for d in decision.agencies
                ],
                "policy_bundle": bundle_sha256,
                "decided_at": facts.now,
            },
            plates=(facts.plate,),
        )

    async def query_outcome(
        self,
        *,
        query_id: str,
        decision_entry: AppendedEntry,
        outcomes: list[dict[str, JSONValue]],
        complete: bool,
        flagged_for_review: bool,
        answered_at: int,
    ) -> AppendedEntry:
        return await self._append(
            "query_outcome",
            {
                "query_id": query_id,
                "decision_entry": decision_entry.index,
                "decision_leaf_hash": decision_entry.leaf_hash.hex(),
                "outcomes": outcomes,
                "complete": complete,
                "flagged_for_review": flagged_for_review,
                "answered_at": answered_at,
            },
        )

    async def warrant_registered(
        self,
        warrant: Warrant,
        envelope: Envelope,
        *,
        registered_by: Identity,
        registered_at: int,
        effect: Effect | None = None,
    ) -> AppendedEntry:
        # The signed payload lists plates, so only its hash and signature are recorded; the
        # plates go in as commitments, in the warrant's order (slot i = plates[i]).
        return await self._append(
            "warrant_registered",
            {
                "warrant_id": warrant.warrant_id,
                "court": warrant.court,
                "judge": warrant.judge,
                "issued_at": warrant.issued_at,
                "expires_at": warrant.expires_at,
                "agency": warrant.agency,
                "window": warrant.window.to_canonical(),
                "offense": warrant.offense.value,
                "limits": warrant.limits.to_canonical(),
                "plate_count": len(warrant.plates),
                "payload_sha256": hashlib.sha256(envelope.payload).hexdigest(),
                "court_key_id": envelope.key_id,
                "signature": base64.b64encode(envelope.signature).decode("ascii"),
                "registered_by": requester_record(registered_by),
                "registered_at": registered_at,
            },
            plates=warrant.plates,
            effect=effect,
        )

    async def warrant_revoked(
        self,
        warrant_id: str,
        *,
        revoked_by: Identity,
        reason: str,
        revoked_at: int,
        effect: Effect | None = None,
    ) -> AppendedEntry:
        return await self._append(
            "warrant_revoked",
            {
                "warrant_id": warrant_id,
                "revoked_by": requester_record(revoked_by),
                "reason": reason,
                "revoked_at": revoked_at,
            },
            effect=effect,
        )

    async def exigent_approved(
        self,
        *,
        approval_id: str,
        supervisor: Identity,
        officer: str,
        plate: str,
        purpose: str,
        case_number: str,
        note: str,
        approved_at: int,
        expires_at: int,
        consent: Envelope,
        effect: Effect | None = None,
    ) -> AppendedEntry:
        # The consent's payload names the plate, so only its (salted) hash is recorded.
        return await self._append(
            "exigent_approved",
            {
                "approval_id": approval_id,
                "agency": supervisor.organization,
                "supervisor": supervisor.principal,
                "officer": officer,
                "purpose": purpose,
                "case_number": case_number,
                "note": note,
                "approved_at": approved_at,
                "expires_at": expires_at,
                "consent_sha256": hashlib.sha256(consent.payload).hexdigest(),
                "consent_key_id": consent.key_id,
            },
            plates=(plate,),
            effect=effect,
        )

    async def exigent_reviewed(
        self,
        *,
        query_id: str,
        reviewer: Identity,
        upheld: bool,
        note: str,
        reviewed_at: int,
        effect: Effect | None = None,
    ) -> AppendedEntry:
        return await self._append(
            "exigent_reviewed",
            {
                "query_id": query_id,
                "reviewer": requester_record(reviewer),
                "upheld": upheld,
                "note": note,
                "reviewed_at": reviewed_at,
            },
            effect=effect,
        )

    async def commitment_opened(
        self, *, opened_index: int, reason: str, by: Identity
    ) -> AppendedEntry:
        """An auditor is about to see the plates behind entry ``opened_index``."""
        return await self._append(
            "commitment_opened",
            {
                "opened_index": opened_index,
                "reason": reason,
                "by": requester_record(by),
            },
        )

    async def openings_purged(
        self, *, before_index: int, deleted: int, retention_seconds: int, ran_at: int
    ) -> AppendedEntry:
        """The gateway deleted the plates behind old commitments (not the commitments)."""
        return await self._append(
            "retention_purge",
            {
                "scope": "commitment_openings",
                "before_index": before_index,
                "deleted_openings": deleted,
                "retention_seconds": retention_seconds,
                "ran_at": ran_at,
            },
        )

    async def retention_purge(
        self, report: PurgeReport, envelope: Envelope, *, effect: Effect | None = None
    ) -> AppendedEntry:
        return await self._append(
            "retention_purge",
            {
                "scope": "node_sightings",
                "node": report.node,
                "state": report.state,
                "cutoff": report.cutoff,
                "retention_seconds": report.retention_seconds,
                "deleted_sightings": report.deleted_sightings,
                "ran_at": report.ran_at,
                "report": envelope_record(envelope),
            },
            effect=effect,
        )
