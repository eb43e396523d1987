"""Steps 4 and 5 of the node's evidence check: the authority the logged decision cites.

Steps 1-3 (agency_node.evidence_verifier) prove that a decision for exactly this query was
logged and witnessed; these prove that what it cites authorizes it, from keys the node holds
itself: a warrant signed by a court this node trusts (4), or an exigent approval logged with
the supervisor's own signed consent (5).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any

from cryptography import x509

from agency_node.evidence_steps import MAX_CLOCK_SKEW_S, EntryMemo, EvidenceRefused, included
from agency_node.verified_cache import VerifiedCache
from alprfed.canonical import CanonicalError
from alprfed.config import CourtConfig
from alprfed.errors import VerificationError
from alprfed.ledger.entry import plate_commitment
from alprfed.ledger.witness_policy import WitnessedCheckpoint
from alprfed.messages import SearchQuery
from alprfed.messages.consent import verify_consent
from alprfed.messages.evidence import SearchEvidence
from alprfed.models import EXIGENT_PURPOSES, Agency, AgencyId
from alprfed.policy.exigent import APPROVAL_LIFETIME_S
from alprfed.policy.warrants import Warrant, court_covers, open_warrant
from alprfed.signing import Envelope

WARRANT_CACHE = 1024  # verified warrants remembered (one serves many queries; ~1 KB each)


class WarrantCheck:
    """Step 4: the court-signed warrant, and its registration entry in the checkpoint."""

    def __init__(self, *, node_id: str, node_state: str, courts: Mapping[str, CourtConfig]) -> None:
        self._node_id = node_id
        self._node_state = node_state
        self._courts = courts
        self._court_keys = {c.court_id: c.key for c in courts.values()}
        self._warrants = VerifiedCache[tuple[bytes, str, bytes], Warrant](WARRANT_CACHE)
        # A warrant's registration entry recurs in every query citing the warrant.
        self._registrations = EntryMemo(WARRANT_CACHE)

    def check(
        self,
        query: SearchQuery,
        evidence: SearchEvidence,
        witnessed: WitnessedCheckpoint,
        decision: Mapping[str, Any],
        now: int,
    ) -> bool:
        """Returns whether the warrant is prospective (for the node's law).

        Raises: EvidenceRefused at step 4."""
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
        registration = included(evidence.warrant_entry, witnessed, "4", self._registrations)
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
            self._courts[warrant.court],
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


class ExigentCheck:
    """Step 5: the logged exigent approval, and the supervisor's own signed consent to it."""

    def __init__(self, *, lookback_s: int, person_roots: Sequence[x509.Certificate]) -> None:
        """``person_roots``: the federation roots people's certificates chain to."""
        self._lookback_s = lookback_s
        self._person_roots = tuple(person_roots)

    def check(
        self,
        query: SearchQuery,
        evidence: SearchEvidence,
        witnessed: WitnessedCheckpoint,
        decision: Mapping[str, Any],
        now: int,
    ) -> None:
        """Raises: EvidenceRefused at step 5."""
        if evidence.exigent_entry is None:
            raise EvidenceRefused("5", "an exigent query without its logged approval")
        approval = included(evidence.exigent_entry, witnessed, "5")
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
                    query.window.start >= now - self._lookback_s,
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
