"""The AgencyNode gRPC servicer: identity checks and protobuf at the edge, logic elsewhere.

Servicers raise alprfed errors; alprfed.rpc.errors maps them to status codes in one place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

from agency_node.ingest import ingest_stream
from agency_node.law_guard import NodeLawGuard
from agency_node.search import SearchService
from agency_node.storage import NodeStore
from alprfed import wire
from alprfed.clock import Clock
from alprfed.errors import PermissionDenied
from alprfed.observability.metrics import NodeMetrics
from alprfed.pki import FEDERATION_ORG  # the gateway's certificate comes from this CA
from alprfed.rpc.identity import Identity, PrincipalKind, peer_identity
from alprfed.v1 import node_pb2, node_pb2_grpc

log = logging.getLogger("alprfed.node")

INGEST_KINDS = frozenset({PrincipalKind.CAMERA, PrincipalKind.NODE})


class AgencyNodeServicer(node_pb2_grpc.AgencyNodeServicer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        node_id: str,
        search: SearchService,
        store: NodeStore,
        law: NodeLawGuard,
        clock: Clock,
        info: node_pb2.NodeInfo,
        insecure: bool,
        auditors: frozenset[str] = frozenset(),
        metrics: NodeMetrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._node_id = node_id
        self._search = search
        self._store = store
        self._law = law
        self._clock = clock
        self._info = info
        self._insecure = insecure
        self._auditors = auditors

    def _caller(self, context: Any) -> Identity:
        return peer_identity(context, insecure=self._insecure)

    def IngestSightings(
        self, request_iterator: Iterator[node_pb2.IngestBatch], context: Any
    ) -> node_pb2.IngestSummary:
        caller = self._caller(context)
        # Only this agency's own cameras and node tooling write its data.
        if caller.organization != self._node_id or caller.kind not in INGEST_KINDS:
            raise PermissionDenied(f"{caller} may not write sightings to {self._node_id}")
        bounds = self._law.ingest_bounds(self._clock.now())
        summary = ingest_stream(self._store, request_iterator, bounds=bounds)
        if self._metrics is not None:
            self._metrics.ingested.inc(summary.sightings)
        return summary

    def Search(self, request: node_pb2.SearchRequest, context: Any) -> node_pb2.SearchResponse:
        caller = self._caller(context)
        # Defence in depth: the gateway signature is the real gate, but only the gateway calls.
        if caller.kind != PrincipalKind.GATEWAY or caller.organization != FEDERATION_ORG:
            raise PermissionDenied(f"{caller} is not the federation gateway")
        outcome = self._search.search(
            wire.envelope_from_pb(request.query, field="query"), request.evidence or None
        )
        if self._metrics is not None:
            self._metrics.searches.labels("denied" if outcome.refusals else "results").inc()
            for reason in outcome.refusals:
                self._metrics.refusals.labels(reason.rule_id).inc()
        log.info(  # counts and rule ids only: never the plate, case or warrant
            "search answered: %d sightings, refused by %s",
            len(outcome.rows),
            ", ".join(r.rule_id for r in outcome.refusals) or "no rule",
        )
        response = node_pb2.SearchResponse(
            receipt=wire.envelope_to_pb(outcome.receipt),
            refusals=wire.reasons_to_pb(outcome.refusals),
        )
        wire.add_sighting_rows(response.sightings, outcome.rows)
        return response

    def GetNodeInfo(self, request: node_pb2.GetNodeInfoRequest, context: Any) -> node_pb2.NodeInfo:
        self._caller(context)
        return self._info

    def GetAccessLog(
        self, request: node_pb2.GetAccessLogRequest, context: Any
    ) -> node_pb2.AccessLogPage:
        caller = self._caller(context)
        if caller.kind != PrincipalKind.PERSON or caller.organization not in self._auditors:
            raise PermissionDenied(f"{caller} may not read the access log of {self._node_id}")
        records = self._store.access_log(after=request.after, limit=request.limit or 1000)
        return node_pb2.AccessLogPage(
            records=[json.dumps(r.to_json(), sort_keys=True) for r in records]
        )
