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
log; the caller only ever learns a fixed message. Steps 1-3 are here, steps 4 and 5 in
agency_node.evidence_authority, what they share in agency_node.evidence_steps.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from agency_node.evidence_authority import WARRANT_CACHE, ExigentCheck, WarrantCheck
from agency_node.evidence_steps import MAX_CLOCK_SKEW_S, EvidenceRefused, included
from agency_node.trust import NodeTrust
from agency_node.verified_cache import VerifiedCache
from alprfed import canonical
from alprfed.canonical import CanonicalError
from alprfed.errors import VerificationError
from alprfed.ledger.entry import LedgerEntryView, plate_commitment
from alprfed.ledger.witness_policy import WitnessedCheckpoint, WitnessPolicyError
from alprfed.messages import SearchQuery
from alprfed.messages.evidence import SearchEvidence

__all__ = [
    "CHECKPOINT_CACHE",
    "MAX_CLOCK_SKEW_S",
    "MAX_DECISION_AGE_S",
    "WARRANT_CACHE",
    "EvidenceRefused",
    "EvidenceVerifier",
    "VerifiedEvidence",
]

MAX_DECISION_AGE_S = 600  # a decision entry is used within minutes of being logged
CHECKPOINT_CACHE = 64  # verified checkpoint notes remembered (many queries share one)


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
        self._trust = trust
        self._now = now
        self._checkpoints = VerifiedCache[str, WitnessedCheckpoint](CHECKPOINT_CACHE)
        self._warrant = WarrantCheck(node_id=node_id, node_state=node_state, courts=trust.courts)
        self._exigent = ExigentCheck(lookback_s=trust.exigent_lookback_s, person_roots=person_roots)

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
        decision = included(evidence.decision, witnessed, "3")
        self._check_decision(query, evidence, decision, now)  # 3
        body = decision.body
        prospective = False
        if query.warrant_id is not None:
            prospective = self._warrant.check(query, evidence, witnessed, body, now)  # 4
        elif query.exigent:
            self._exigent.check(query, evidence, witnessed, body, now)  # 5
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
