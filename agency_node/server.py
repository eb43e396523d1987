"""Assemble a running agency node from its config: store, law, verifier, servicer, purge.

``create_server(config)`` returns ``(server, port)`` so tests bind port 0 and learn the port.
The server reports SERVING on the standard gRPC health service once started and NOT_SERVING as
soon as shutdown begins; shutdown drains in-flight calls for a grace period, stops the purge
thread and closes the database.
"""

from __future__ import annotations

import logging
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from agency_node.evidence_verifier import EvidenceVerifier
from agency_node.law_guard import LawBookLike, NodeLawGuard, load_node_law
from agency_node.observability import node_checks, node_gauges
from agency_node.purge_delivery import PurgeReportDelivery
from agency_node.query_verifier import QueryVerifier
from agency_node.retention import RetentionPurger
from agency_node.search import SearchService
from agency_node.servicer import AgencyNodeServicer
from agency_node.storage import NodeStore
from agency_node.trust import NodeTrust, load_node_trust
from alprfed.clock import SYSTEM_CLOCK, Clock
from alprfed.config import NodeConfig, federation_roots
from alprfed.errors import ConfigError
from alprfed.observability.grpc_services import enable_reflection
from alprfed.observability.interceptors import ObservingInterceptor
from alprfed.observability.metrics import NodeMetrics
from alprfed.observability.probes import ProbeServer
from alprfed.observability.telemetry import Telemetry
from alprfed.rpc.errors import ErrorMappingInterceptor
from alprfed.rpc.tls import SERVER_OPTIONS, add_port, check_listen
from alprfed.signing import SigningKey
from alprfed.v1 import node_pb2, node_pb2_grpc

log = logging.getLogger("alprfed.node")

SERVICE_NAME = "alprfed.v1.AgencyNode"
MAX_WORKERS = 16
MAX_CONCURRENT_RPCS = 256  # beyond this, callers get RESOURCE_EXHAUSTED, not a stalled node
DEFAULT_GRACE_S = 5.0


class NodeServer:
    """A started-or-startable node: the gRPC server plus its background purge."""

    def __init__(
        self,
        *,
        grpc_server: grpc.Server,
        health_servicer: health.HealthServicer,
        purger: RetentionPurger,
        store: NodeStore,
        purge_interval: int,
        delivery: PurgeReportDelivery | None,
        telemetry: Telemetry,
        probes: ProbeServer | None,
    ) -> None:
        self._server = grpc_server
        self.telemetry = telemetry
        self.probes = probes
        self._health = health_servicer
        self._purger = purger
        self._store = store
        self._purge_interval = purge_interval
        self._delivery = delivery

    def start(self) -> None:
        self._server.start()
        self._purger.start(self._purge_interval)
        if self._delivery is not None:
            self._delivery.start()
        for name in ("", SERVICE_NAME):
            self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.probes is not None:
            self.probes.start()

    def stop(self, grace: float | None = DEFAULT_GRACE_S) -> None:
        """Refuse new calls, let in-flight ones finish for ``grace`` seconds, release resources."""
        self._health.enter_graceful_shutdown()
        self._server.stop(grace).wait()
        self._purger.stop()
        if self._delivery is not None:
            self._delivery.stop()
        if self.probes is not None:
            self.probes.stop()
        self._store.close()
        self.telemetry.shutdown()

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return bool(self._server.wait_for_termination(timeout))


def create_server(
    config: NodeConfig,
    *,
    clock: Clock = SYSTEM_CLOCK,
    law_book: LawBookLike | None = None,
    telemetry: Telemetry | None = None,
) -> tuple[NodeServer, int]:
    """Build (not start) a node server bound to ``config.listen``; return it and its port.

    ``telemetry`` defaults to what ``config.observability`` says (tests pass their own).

    Raises:
        ConfigError: bad keys, policies, no retention period from law or config, or a
            listen address that cannot be bound.
    """
    check_listen(config.listen)  # before the database is opened: a failure changes nothing
    if config.observability.metrics_listen:
        check_listen(config.observability.metrics_listen, "metrics_listen")
    if telemetry is None:
        telemetry = Telemetry.create(
            "alprfed-node", config.observability, instance=config.agency_id
        )
    signer = SigningKey.load(config.signing_key)
    if config.trust_file is None:
        raise ConfigError(
            'the node needs its trust file ([node] trust = "trust.toml"): the ledger key, '
            "witness policy and courts it checks every query's evidence against"
        )
    trust = load_node_trust(config.trust_file)
    law = load_node_law(config, law_book)
    store = NodeStore.open(config.database_url)
    try:
        servicer = build_servicer(
            config,
            trust=trust,
            law=law,
            store=store,
            signer=signer,
            clock=clock,
            metrics=NodeMetrics(telemetry.registry),
        )
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=MAX_WORKERS, thread_name_prefix="node-rpc"),
            # Observing first: it wraps the error mapping and sees the status it sets.
            interceptors=[ObservingInterceptor(telemetry), ErrorMappingInterceptor()],
            options=SERVER_OPTIONS,
            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
        )
        node_pb2_grpc.add_AgencyNodeServicer_to_server(servicer, server)
        health_servicer = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if config.observability.reflection:
            enable_reflection(server, [SERVICE_NAME])
        port = add_port(server, config.listen, config.tls)
        purger = RetentionPurger(
            store,
            law.retention_seconds,
            clock,
            signer=signer,
            node_id=config.agency_id,
            state=config.state,
        )
        delivery = (
            PurgeReportDelivery(store, gateway_address=config.gateway_address, tls=config.tls)
            if config.gateway_address
            else None
        )
        telemetry.registry.register(
            node_gauges(store, retention_seconds=law.retention_seconds, clock=clock)
        )
        probes = (
            ProbeServer(config.observability.metrics_listen, telemetry.registry, node_checks(store))
            if config.observability.metrics_listen
            else None
        )
    except BaseException:
        store.close()
        raise
    log.info(
        "node %s (%s) listening on port %d, retention %d s",
        config.agency_id,
        config.state,
        port,
        law.retention_seconds,
    )
    return NodeServer(
        grpc_server=server,
        health_servicer=health_servicer,
        purger=purger,
        store=store,
        purge_interval=config.purge_interval_seconds,
        delivery=delivery,
        telemetry=telemetry,
        probes=probes,
    ), port


def build_servicer(
    config: NodeConfig,
    *,
    trust: NodeTrust,
    law: NodeLawGuard,
    store: NodeStore,
    signer: SigningKey,
    clock: Clock,
    metrics: NodeMetrics | None = None,
) -> AgencyNodeServicer:
    """The node's servicer with its verifiers, law and store: everything but the transport
    (so a profiler can call it in process, exactly as the server does)."""
    verifier = QueryVerifier(
        node_id=config.agency_id,
        gateway_keys=config.gateway_keys,
        clock=clock,
    )
    search = SearchService(
        node_id=config.agency_id,
        verifier=verifier,
        evidence=EvidenceVerifier(
            node_id=config.agency_id,
            node_state=config.state,
            trust=trust,
            now=clock.now,
            person_roots=federation_roots(config.tls),
        ),
        law=law,
        store=store,
        signer=signer,
        clock=clock,
        metrics=metrics,
    )
    info = node_pb2.NodeInfo(
        agency_id=config.agency_id,
        state=config.state,
        public_key=signer.public.raw,
        retention_seconds=law.retention_seconds,
        law_pack=law.guard.law_pack,
    )
    return AgencyNodeServicer(
        node_id=config.agency_id,
        search=search,
        store=store,
        law=law,
        clock=clock,
        info=info,
        insecure=config.tls.insecure,
        auditors=trust.auditors,
        metrics=metrics,
    )
