"""Warrants, exigent approvals and reviews, node purge reports: each checked, then recorded.

Every operation here is authorized by the Casbin policy in force for the caller's certificate
identity, then decided and recorded: the registry row is written in the very transaction that
appends its ledger entry, so the ledger holds exactly the acts that took effect, a crash loses
both or neither, and acts are decided one at a time (``_acts``), so of racing requests for one
warrant exactly one takes effect and is logged. A request sent again after its answer was lost
(the same signed warrant, the same revocation, the same purge report, the same consent) gets the
first answer back and logs nothing new.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from cryptography import x509

from alprfed.clock import Clock
from alprfed.errors import (
    ActRecordedMeanwhile,
    AlreadyExists,
    FailedPrecondition,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    VerificationError,
)
from alprfed.messages import PurgeReport
from alprfed.messages.consent import verify_consent
from alprfed.models import EXIGENT_PURPOSES, normalize_plate, parse_purpose
from alprfed.policy.decision import subject_of
from alprfed.policy.exigent import APPROVAL_LIFETIME_S
from alprfed.policy.warrants import court_covers, describe_jurisdiction, open_warrant
from alprfed.rpc.identity import Identity, PrincipalKind
from alprfed.signing import PURGE_REPORT_TYPE, Envelope, VerifyingKey, keyring, open_envelope
from gateway.audit import AuditTrail
from gateway.policy_state import PolicyHolder
from gateway.registry import ApprovalRecord, GatewayRegistry, WarrantRecord

T = TypeVar("T")

MAX_REASON = 500
MAX_CONSENT_SKEW_S = 300  # a consent is signed moments before it is sent


@dataclass(frozen=True)
class ReviewResult:
    query_id: str
    upheld: bool
    ledger_index: int


class RecordsService:
    def __init__(
        self,
        *,
        policy: PolicyHolder,
        registry: GatewayRegistry,
        audit: AuditTrail,
        clock: Clock,
        person_roots: Sequence[x509.Certificate] = (),
    ) -> None:
        """``person_roots``: the federation roots supervisors' certificates chain to (their
        signed consents to exigent queries are checked against them)."""
        self._policy = policy
        self._registry = registry
        self._audit = audit
        self._clock = clock
        self._person_roots = tuple(person_roots)
        # Held from the check that an act may take effect until its entry and record are
        # committed: a check never sees the state from before a racing act committed.
        self._acts = asyncio.Lock()

    def authorize(self, identity: Identity, obj: str, act: str) -> None:
        """Raises: PermissionDenied with the Casbin reason."""
        if identity.kind != PrincipalKind.PERSON:
            raise PermissionDenied(f"{identity} is not a person and may not {act} {obj}")
        self._policy.current.access.check(
            subject_of(identity.organization, identity.principal), identity.organization, obj, act
        )

    # --- warrants -------------------------------------------------------------------------

    async def register_warrant(self, identity: Identity, envelope: Envelope) -> WarrantRecord:
        """Check a court-signed warrant, record it in the ledger, then in the registry.

        Raises:
            PermissionDenied: the caller may not register warrants, is not a clerk of the
                warrant's court, or the court has no jurisdiction over the agency it names.
            InvalidRequest: not signed by a court this federation trusts, malformed, or naming
                an agency outside the federation.
            AlreadyExists: the warrant id is registered already.
            FailedPrecondition: the warrant has already expired.
        """
        self.authorize(identity, "warrant", "register")
        federation = self._policy.current.federation
        courts = {c.court_id: c.key for c in federation.courts.values()}
        try:
            warrant = open_warrant(envelope, courts)
        except VerificationError as exc:
            # The clerk is authenticated; what failed is the document, so say what failed.
            raise InvalidRequest(
                f"not a warrant this federation accepts: {exc.detail}", field="warrant"
            ) from None
        if warrant.court != identity.organization:
            raise PermissionDenied(
                f"a clerk of {identity.organization} may not register a warrant of {warrant.court}"
            )
        agency = federation.agencies.get(warrant.agency)
        if agency is None:
            raise InvalidRequest(
                f"warrant names {warrant.agency}, not an agency of this federation", field="agency"
            )
        # The court signed it, but a court cannot authorize an agency it has no power over;
        # the gate checks this again at query time against the courts then in force.
        court = federation.courts[warrant.court]  # open_warrant verified it is one of them
        if not court_covers(court, agency):
            raise PermissionDenied(
                f"warrant {warrant.warrant_id}: {describe_jurisdiction(court, agency)}"
            )

        async def register() -> WarrantRecord:
            async with self._acts:
                existing = await asyncio.to_thread(self._registry.get_warrant, warrant.warrant_id)
                if existing is not None:
                    if existing.envelope == envelope:
                        return existing  # the same warrant sent again: already registered
                    raise AlreadyExists(f"warrant {warrant.warrant_id} is already registered")
                now = self._clock.now()
                if warrant.expires_at <= now:
                    raise FailedPrecondition(f"warrant {warrant.warrant_id} has already expired")
                await self._audit.warrant_registered(
                    warrant,
                    envelope,
                    registered_by=identity,
                    registered_at=now,
                    effect=self._registry.warrant_insert(
                        warrant, envelope, registered_at=now, registered_by=str(identity)
                    ),
                )
            return await self._get(warrant.warrant_id)

        return await _once_across_replicas(register)

    async def revoke_warrant(
        self, identity: Identity, warrant_id: str, reason: str
    ) -> WarrantRecord:
        """Raises: PermissionDenied, NotFound, FailedPrecondition (already revoked)."""
        self.authorize(identity, "warrant", "revoke")
        if not reason.strip() or len(reason) > MAX_REASON:
            raise InvalidRequest(f"give a reason of 1 to {MAX_REASON} characters", field="reason")
        reason = reason.strip()

        async def revoke() -> WarrantRecord:
            async with self._acts:
                record = await self._get(warrant_id)
                if record.warrant.court != identity.organization:
                    raise PermissionDenied(
                        f"a clerk of {identity.organization} may not revoke a warrant of "
                        f"{record.warrant.court}"
                    )
                if record.revoked_at is not None:
                    if (record.revoked_by, record.revoked_reason) == (str(identity), reason):
                        return record  # the same revocation sent again: already in effect
                    raise FailedPrecondition(f"warrant {warrant_id} is already revoked")
                now = self._clock.now()
                await self._audit.warrant_revoked(
                    warrant_id,
                    revoked_by=identity,
                    reason=reason,
                    revoked_at=now,
                    effect=self._registry.warrant_revocation(
                        warrant_id, revoked_at=now, revoked_by=str(identity), reason=reason
                    ),
                )
            return await self._get(warrant_id)

        return await _once_across_replicas(revoke)

    async def get_warrant(self, identity: Identity, warrant_id: str) -> WarrantRecord:
        self.authorize(identity, "warrant", "read")
        return await self._get(warrant_id)

    async def _get(self, warrant_id: str) -> WarrantRecord:
        record = await asyncio.to_thread(self._registry.get_warrant, warrant_id)
        if record is None:
            raise NotFound(f"warrant {warrant_id} is not registered")
        return record

    # --- exigent queries ------------------------------------------------------------------

    async def approve_exigent(
        self,
        supervisor: Identity,
        *,
        officer: str,
        plate: str,
        purpose: str,
        case_number: str,
        note: str,
        consent: Envelope | None = None,
        certificate_chain: bytes = b"",
    ) -> ApprovalRecord:
        """A supervisor co-approves one officer's exigent query of their own agency, with a
        consent signed by their own certificate key (which nodes check for themselves).

        Raises: PermissionDenied; InvalidRequest (no consent, or one that does not verify or
        says something else than the request).
        """
        self.authorize(supervisor, "exigent", "approve")
        loaded = self._policy.current
        if not loaded.federation.exigent_enabled:
            raise PermissionDenied("this federation does not allow exigent queries")
        if officer == supervisor.principal:
            raise PermissionDenied("a supervisor cannot co-approve their own query")
        if not loaded.access.allows(
            subject_of(supervisor.organization, officer), supervisor.organization, "query", "create"
        ):
            raise PermissionDenied(f"{officer} is not an officer of {supervisor.organization}")
        chosen = parse_purpose(purpose)
        if chosen not in EXIGENT_PURPOSES:
            raise InvalidRequest(f"{purpose} is not an exigent purpose", field="purpose")
        if not case_number.strip():
            raise InvalidRequest("a case number is mandatory", field="case_number")
        normalized = normalize_plate(plate)
        now = self._clock.now()
        signed = self._check_consent(
            consent,
            certificate_chain,
            supervisor,
            officer=officer,
            plate=normalized,
            purpose=chosen.value,
            case_number=case_number.strip(),
            now=now,
        )
        async with self._acts:
            earlier = await asyncio.to_thread(self._registry.approval_with_consent, signed)
            if earlier is not None:
                # A consent is single-use: sent again, it is the approval it already made.
                record = await asyncio.to_thread(self._registry.get_approval, earlier)
                if record is None:  # pragma: no cover - consents are written with approvals
                    raise NotFound(f"approval {earlier} is not recorded")
                return record
            approval_id = "ex-" + uuid.uuid4().hex[:16]
            record = ApprovalRecord(
                approval_id,
                supervisor.organization,
                officer,
                supervisor.principal,
                normalized,
                chosen,
                case_number.strip(),
                now,
                now + APPROVAL_LIFETIME_S,
                -1,  # the entry's index, known once it is appended
                signed,
                certificate_chain,
            )
            entry = await self._audit.exigent_approved(
                approval_id=approval_id,
                supervisor=supervisor,
                officer=officer,
                plate=normalized,
                purpose=chosen.value,
                case_number=case_number.strip(),
                note=note[:MAX_REASON],
                approved_at=now,
                expires_at=now + APPROVAL_LIFETIME_S,
                consent=signed,
                effect=self._registry.approval_insert(record),
            )
        return replace(record, ledger_index=entry.index)

    def _check_consent(
        self,
        consent: Envelope | None,
        chain: bytes,
        supervisor: Identity,
        *,
        officer: str,
        plate: str,
        purpose: str,
        case_number: str,
        now: int,
    ) -> Envelope:
        if consent is None or not chain:
            raise InvalidRequest(
                "an exigent approval carries the supervisor's signed consent "
                "(alprfed exigent approve signs it with your certificate key)",
                field="consent",
            )
        if not self._person_roots:
            raise FailedPrecondition("this gateway has no federation root to check consents")
        try:
            signed, signer = verify_consent(consent, chain, self._person_roots, now=now)
        except VerificationError as exc:
            raise InvalidRequest(
                f"the consent does not verify: {exc.detail}", field="consent"
            ) from None
        if (signer.organization, signer.principal) != (
            supervisor.organization,
            supervisor.principal,
        ):
            raise PermissionDenied(f"the consent is signed by {signer}, not by {supervisor}")
        if (signed.officer, signed.plate, signed.purpose, signed.case_number) != (
            officer,
            plate,
            purpose,
            case_number,
        ):
            raise InvalidRequest(
                "the signed consent says something else than the request", field="consent"
            )
        if abs(signed.signed_at - now) > MAX_CONSENT_SKEW_S:
            raise InvalidRequest("the consent was not signed just now", field="consent")
        return consent

    async def review_exigent(
        self, reviewer: Identity, *, query_id: str, upheld: bool, note: str
    ) -> ReviewResult:
        self.authorize(reviewer, "exigent", "review")
        agency_id = await asyncio.to_thread(self._registry.check_reviewable, query_id)
        federation = self._policy.current.federation
        court, agency = (
            federation.courts.get(reviewer.organization),
            federation.agencies.get(agency_id),
        )
        if court is None or agency is None or not court_covers(court, agency):
            raise PermissionDenied(
                f"{reviewer.organization} has no jurisdiction over exigent queries of {agency_id}"
            )
        now = self._clock.now()
        async with self._acts:
            await asyncio.to_thread(self._registry.check_reviewable, query_id)
            entry = await self._audit.exigent_reviewed(
                query_id=query_id,
                reviewer=reviewer,
                upheld=upheld,
                note=note[:MAX_REASON],
                reviewed_at=now,
                effect=self._registry.review_record(
                    query_id, upheld=upheld, reviewer=str(reviewer), reviewed_at=now
                ),
            )
        return ReviewResult(query_id, upheld, entry.index)

    # --- policy ---------------------------------------------------------------------------

    async def reload_policy(self, admin: Identity) -> tuple[bool, str]:
        """Reload policies/ and the federation file for a federation admin (as SIGHUP does).

        Raises: PermissionDenied; ConfigError (the files do not load; the old policy stays).
        """
        self.authorize(admin, "policy", "reload")
        changed = await self._policy.load()
        return changed, self._policy.current.bundle.digest

    # --- node purge reports ---------------------------------------------------------------

    async def report_purge(self, caller: Identity, envelope: Envelope) -> int:
        """A node reports a retention purge, signed with its node key, for the ledger; returns
        the index of the entry recording it. A report is recorded once: the same report sent
        again gets the same index back.

        Raises: Unauthenticated (not that node, or its key does not verify the report);
        AlreadyExists (another report for the same run of that node was recorded).
        """
        agency = self._policy.current.federation.agencies.get(caller.organization)
        if caller.kind != PrincipalKind.NODE or agency is None or not agency.runs_node:
            raise Unauthenticated(f"{caller} is not a node of this federation")
        payload = open_envelope(
            envelope, payload_type=PURGE_REPORT_TYPE, keys=keyring(VerifyingKey(agency.node_key))
        )
        try:
            report = PurgeReport.from_canonical(payload)
        except VerificationError as exc:
            raise InvalidRequest(f"not a purge report: {exc.detail}", field="report") from None
        if report.node != agency.agency_id:
            raise Unauthenticated(f"{caller} reported a purge for {report.node}")
        digest = hashlib.sha256(envelope.payload).hexdigest()

        async def record() -> int:
            async with self._acts:
                earlier = await asyncio.to_thread(
                    self._registry.purge_report, report.node, report.ran_at
                )
                if earlier is not None:
                    recorded_digest, index = earlier
                    if recorded_digest != digest:
                        raise AlreadyExists(
                            f"{report.node} already reported its purge run at {report.ran_at} "
                            "with other figures"
                        )
                    return index
                entry = await self._audit.retention_purge(
                    report,
                    envelope,
                    effect=self._registry.purge_report_insert(report.node, report.ran_at, digest),
                )
            return entry.index

        return await _once_across_replicas(record)


async def _once_across_replicas(act: Callable[[], Awaitable[T]]) -> T:
    """Run a check-then-record act. ``self._acts`` orders acts within one gateway; if another
    replica recorded the same act between this one's check and its commit (nothing of this
    one was stored), check again: the check now finds that record and answers as it does a
    request sent twice -- the same act is success, a different one its named error."""
    try:
        return await act()
    except ActRecordedMeanwhile:
        return await act()
