"""The Gateway gRPC servicer: identity from the certificate, protobuf at the edge.

Every query request is recorded, including those refused before any gate could run: a caller
whose certificate does not follow the federation scheme and a malformed request each leave a
``query_rejected`` entry before the error goes back.
"""

from __future__ import annotations

from typing import Any

from alprfed import wire
from alprfed.clock import Clock
from alprfed.errors import (
    ConfigError,
    FailedPrecondition,
    InvalidPlate,
    InvalidRequest,
    Unauthenticated,
)
from alprfed.models import normalize_plate
from alprfed.rpc.identity import Identity, peer_identity
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from alprfed.wire import gateway as gwire
from gateway.audit import AuditTrail
from gateway.records import RecordsService
from gateway.registry import WarrantRecord
from gateway.service import QueryService


def _recorded_error(exc: Unauthenticated | InvalidRequest) -> str:
    """The error as the ledger keeps it; a plate error never echoes what was typed."""
    if isinstance(exc, Unauthenticated):
        return exc.detail
    if isinstance(exc, InvalidPlate):
        return "plate: not a plate (1 to 10 of A-Z and 0-9 after dropping spaces and dashes)"
    return str(exc)


def _committable(raw: str) -> str:
    """The plate to commit to in the ledger, or "" when the input is not a plate at all."""
    try:
        return normalize_plate(raw)
    except InvalidRequest:
        return ""


def _status(record: WarrantRecord) -> gateway_pb2.WarrantStatus:
    return gwire.warrant_status_to_pb(
        warrant_id=record.warrant.warrant_id,
        envelope=record.envelope,
        revoked_at=record.revoked_at,
        revoked_reason=record.revoked_reason,
        ledger_index=record.ledger_index,
    )


class GatewayServicer(gateway_pb2_grpc.GatewayServicer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        queries: QueryService,
        records: RecordsService,
        audit: AuditTrail,
        clock: Clock,
        insecure: bool,
    ) -> None:
        self._queries = queries
        self._records = records
        self._audit = audit
        self._clock = clock
        self._insecure = insecure

    def _caller(self, context: Any) -> Identity:
        return peer_identity(context, insecure=self._insecure)

    async def Query(
        self,
        request: gateway_pb2.QueryRequest,
        context: Any,
    ) -> gateway_pb2.QueryResponse:
        received_at = self._clock.now()
        identity: Identity | None = None
        try:
            identity = self._caller(context)
            query = gwire.query_from_pb(request)
            query.window.check_sane(now=received_at)
            self._queries.check_targets(query)
        except (Unauthenticated, InvalidRequest) as exc:
            # Logged even if the caller's deadline passes while the entry waits in the
            # writer's queue, where a cancelled caller's entry would be dropped.
            await self._queries.run_to_end(
                self._audit.query_rejected(
                    identity=identity,
                    status=exc.status.value,
                    error=_recorded_error(exc),
                    request=gwire.rejected_request_record(request),
                    plate=_committable(request.plate),
                    received_at=received_at,
                ),
                "a rejected request's ledger entry",
            )
            raise
        answer = await self._queries.query(identity, query, context.time_remaining())
        return gwire.answer_to_pb(answer)

    async def ApproveExigent(
        self,
        request: gateway_pb2.ApproveExigentRequest,
        context: Any,
    ) -> gateway_pb2.ExigentApproval:
        record = await self._records.approve_exigent(
            self._caller(context),
            officer=request.officer_id,
            plate=request.plate,
            purpose=request.purpose,
            case_number=request.case_number,
            note=request.note,
            consent=wire.envelope_from_pb(request.consent, field="consent")
            if request.HasField("consent")
            else None,
            certificate_chain=request.certificate_chain,
        )
        return gateway_pb2.ExigentApproval(
            approval_id=record.approval_id,
            agency_id=record.agency,
            officer_id=record.officer,
            supervisor_id=record.supervisor,
            expires_at=record.expires_at,
            ledger_index=record.ledger_index,
        )

    async def ReviewExigent(
        self,
        request: gateway_pb2.ReviewExigentRequest,
        context: Any,
    ) -> gateway_pb2.ExigentReview:
        result = await self._records.review_exigent(
            self._caller(context),
            query_id=request.query_id,
            upheld=request.upheld,
            note=request.note,
        )
        return gateway_pb2.ExigentReview(
            query_id=result.query_id, upheld=result.upheld, ledger_index=result.ledger_index
        )

    async def RegisterWarrant(
        self,
        request: gateway_pb2.RegisterWarrantRequest,
        context: Any,
    ) -> gateway_pb2.WarrantStatus:
        envelope = wire.envelope_from_pb(request.warrant, field="warrant")
        return _status(await self._records.register_warrant(self._caller(context), envelope))

    async def RevokeWarrant(
        self,
        request: gateway_pb2.RevokeWarrantRequest,
        context: Any,
    ) -> gateway_pb2.WarrantStatus:
        return _status(
            await self._records.revoke_warrant(
                self._caller(context), request.warrant_id, request.reason
            )
        )

    async def GetWarrant(
        self,
        request: gateway_pb2.GetWarrantRequest,
        context: Any,
    ) -> gateway_pb2.WarrantStatus:
        return _status(await self._records.get_warrant(self._caller(context), request.warrant_id))

    async def ReportPurge(
        self,
        request: gateway_pb2.ReportPurgeRequest,
        context: Any,
    ) -> gateway_pb2.ReportPurgeResponse:
        index = await self._records.report_purge(
            self._caller(context), wire.envelope_from_pb(request.report, field="report")
        )
        return gateway_pb2.ReportPurgeResponse(ledger_index=index)

    async def ReloadPolicy(
        self, request: gateway_pb2.ReloadPolicyRequest, context: Any
    ) -> gateway_pb2.ReloadPolicyResponse:
        try:
            changed, digest = await self._records.reload_policy(self._caller(context))
        except ConfigError as exc:
            # The admin is authenticated and asked for this: say what is wrong with the files.
            raise FailedPrecondition(
                f"policy not reloaded, the old one stays in force: {exc}"
            ) from None
        return gateway_pb2.ReloadPolicyResponse(changed=changed, bundle_sha256=digest)
