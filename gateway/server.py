"""Assemble a running gateway from its config: ledger, registry, policy, node channels, servicers.

The gateway runs on grpc.aio: a fan-out is many concurrent calls, and asyncio makes those cheap.
Everything here is created inside the running event loop (gRPC aio objects belong to the loop
that made them), so ``create_server`` is a coroutine. It returns ``(server, port)`` so tests
bind port 0 and learn the port.
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from alprfed.clock import SYSTEM_CLOCK, Clock
from alprfed.config import GatewayConfig, federation_roots, load_federation
from alprfed.errors import ConfigError
from alprfed.ledger import LedgerStore, LedgerWriter
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.tile_source import TileSource
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.observability.grpc_services import enable_reflection
from alprfed.observability.interceptors import AsyncObservingInterceptor
from alprfed.observability.metrics import GatewayMetrics
from alprfed.observability.probes import ProbeServer
from alprfed.observability.telemetry import Telemetry
from alprfed.rpc.errors import AsyncErrorMappingInterceptor
from alprfed.rpc.identity import Identity, peer_identity
from alprfed.rpc.open_files import ensure_open_files
from alprfed.rpc.tls import SERVER_OPTIONS, add_port, check_listen
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2_grpc, ledger_pb2_grpc
from gateway.audit import AuditTrail
from gateway.fanout import NodePool
from gateway.ledger_servicer import LedgerServicer
from gateway.observability import WitnessGauges, gateway_checks, ledger_gauges
from gateway.openings import OpeningsRetention
from gateway.policy_state import PolicyHolder
from gateway.records import RecordsService
from gateway.registry import GatewayRegistry
from gateway.service import QueryService
from gateway.servicer import GatewayServicer
from gateway.tiles_http import start_tiles_server
from gateway.unwitnessed import Unwitnessed
from gateway.witnessing import CheckpointWitnessing

log = logging.getLogger("alprfed.gateway")

SERVICE_NAMES = ("", "alprfed.v1.Gateway", "alprfed.v1.Ledger")
MAX_CONCURRENT_RPCS = 1024
DEFAULT_GRACE_S = 5.0


class GatewayServer:
    def __init__(
        self,
        *,
        grpc_server: grpc.aio.Server,
        health_servicer: health.aio.HealthServicer,
        policy: PolicyHolder,
        writer: LedgerWriter,
        queries: QueryService,
        pool: NodePool,
        openings: OpeningsRetention,
        witnessing: CheckpointWitnessing | Unwitnessed,
        tiles: TileSource | None,
        tiles_listen: str,
        closers: list[Any],
        telemetry: Telemetry,
        probes: ProbeServer | None,
    ) -> None:
        self._server = grpc_server
        self.telemetry = telemetry
        self.probes = probes
        self._health = health_servicer
        self.policy = policy
        self._writer = writer
        self._queries = queries
        self._pool = pool
        self.openings = openings
        self.witnessing = witnessing
        self._tiles = tiles
        self._tiles_listen = tiles_listen
        self._tiles_runner: Any = None
        self.tiles_port = 0
        self._closers = closers

    async def start(self) -> None:
        await self.witnessing.start()
        if self._tiles is not None:
            host, _, port = self._tiles_listen.rpartition(":")
            self._tiles_runner, self.tiles_port = await start_tiles_server(
                self._tiles, host, int(port)
            )
            log.info("serving the ledger as C2SP tlog-tiles on port %d", self.tiles_port)
        await self._server.start()
        self.openings.start()
        for name in SERVICE_NAMES:
            await self._health.set(name, health_pb2.HealthCheckResponse.SERVING)
        if self.probes is not None:
            self.probes.start()

    async def reload_policy(self) -> bool:
        """Re-read policies and the federation file (SIGHUP). Raises ConfigError if wrong."""
        return await self.policy.load()

    async def stop(self, grace: float | None = DEFAULT_GRACE_S) -> None:
        """Refuse new calls, finish in-flight ones, then flush the ledger and close."""
        await self._health.enter_graceful_shutdown()
        await self._server.stop(grace)
        # Queries whose calls the stop cancelled run on to their outcome entries: before the
        # nodes' channels and the ledger writer close under them. Their network steps keep to
        # their deadlines; a stalled database would hold them for ever, so the wait is bounded.
        await self._queries.finish_cancelled()
        await self.openings.stop()
        await self._pool.close()
        await self._writer.close()
        await self.witnessing.stop()
        if self._tiles_runner is not None:
            await self._tiles_runner.cleanup()
        if self.probes is not None:
            self.probes.stop()
        for close in self._closers:
            close()
        self.telemetry.shutdown()

    async def wait_for_termination(self) -> None:
        await self._server.wait_for_termination()


async def create_server(
    config: GatewayConfig, *, clock: Clock = SYSTEM_CLOCK, telemetry: Telemetry | None = None
) -> tuple[GatewayServer, int]:
    """Build (not start) a gateway bound to ``config.listen``; publish the policy in force.

    ``telemetry`` defaults to what ``config.observability`` says (tests pass their own, with
    an in-memory span exporter).

    Raises:
        ConfigError: bad keys, policies or federation file, or an address that cannot be
            bound.
    """
    # Before the ledger is opened (which publishes the policy): a failure changes nothing.
    check_listen(config.listen)
    if config.tiles_listen:
        check_listen(config.tiles_listen, "tiles_listen")
    if config.observability.metrics_listen:
        check_listen(config.observability.metrics_listen, "metrics_listen")
    if telemetry is None:
        telemetry = Telemetry.create("alprfed-gateway", config.observability)
    metrics = GatewayMetrics(telemetry.registry)
    federation = config.federation
    ensure_open_files(len(federation.nodes()))  # a channel per node, kept open
    query_signer = SigningKey.load(config.signing_key)
    if query_signer.public != federation.gateway_key:
        raise ConfigError(
            "the gateway signing key does not match gateway_key in "
            f"{config.federation_file}; nodes would refuse every query"
        )
    ledger_signer = SigningKey.load(config.ledger_key)
    ledger_verifier = NoteVerifier.for_key(federation.origin, ledger_signer.public)
    ledger_vkey = ledger_verifier.to_vkey()
    witness_policy = load_gateway_witness_policy(config, ledger_verifier)
    store = LedgerStore.open(
        config.database_url,
        origin=federation.origin,
        signer=ledger_signer,
        clock=clock,
        publish_on_append=not witness_policy.requires_witnesses,
        exclusive=True,  # SQLite: one gateway; PostgreSQL: replicas share the sequencer lease
    )
    closers: list[Any] = [store.close]
    try:
        registry = GatewayRegistry.open(config.database_url)
        closers.append(registry.close)
        witnessing: CheckpointWitnessing | Unwitnessed = (
            CheckpointWitnessing(
                store,
                witness_policy,
                ssl_context=witness_ssl_context(config),
                request_timeout_s=config.witness_timeout_ms / 1000,
                on_published=metrics.witnessing_seconds.observe,
            )
            if witness_policy.requires_witnesses
            else Unwitnessed(store)
        )
        writer = LedgerWriter(
            store, on_commit=witnessing.checkpoint_signed, on_batch=metrics.batch_committed
        )
        audit = AuditTrail(writer)
        policy = PolicyHolder(
            policies_dir=config.effective_policies_dir,
            load_federation=lambda: load_federation(config.federation_file),
            registry=registry,
            audit=audit,
            clock=clock,
            ledger_vkey=ledger_vkey,
        )
        await policy.load()
        pool = NodePool(federation.agencies, config.node_tls, tracer=telemetry.tracer)
        records = RecordsService(
            policy=policy,
            registry=registry,
            audit=audit,
            clock=clock,
            person_roots=federation_roots(config.tls),
        )
        queries = QueryService(
            policy=policy,
            registry=registry,
            audit=audit,
            ledger=store,
            pool=pool,
            witnessing=witnessing,
            signer=query_signer,
            clock=clock,
            per_node_timeout_s=config.per_node_timeout_ms / 1000,
            default_timeout_s=config.default_query_timeout_ms / 1000,
            metrics=metrics,
        )

        insecure = config.tls.insecure

        async def authorize_ledger(context: Any, action: str) -> Identity:
            identity = peer_identity(context, insecure=insecure)
            obj, _, act = action.partition(".")
            records.authorize(identity, obj, act)
            return identity

        server = grpc.aio.server(
            # Observing first: it wraps the error mapping and sees the status it sets.
            interceptors=[AsyncObservingInterceptor(telemetry), AsyncErrorMappingInterceptor()],
            options=SERVER_OPTIONS,
            maximum_concurrent_rpcs=MAX_CONCURRENT_RPCS,
        )
        gateway_pb2_grpc.add_GatewayServicer_to_server(
            GatewayServicer(
                queries=queries, records=records, audit=audit, clock=clock, insecure=insecure
            ),
            server,
        )
        ledger_pb2_grpc.add_LedgerServicer_to_server(
            LedgerServicer(store, audit, authorize_ledger), server
        )
        health_servicer = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        if config.observability.reflection:
            enable_reflection(server, [n for n in SERVICE_NAMES if n])
        port = add_port(server, config.listen, config.tls)
        telemetry.registry.register(ledger_gauges(store))
        if isinstance(witnessing, CheckpointWitnessing):
            telemetry.registry.register(WitnessGauges(lambda: witnessing.states))
        probes = (
            ProbeServer(
                config.observability.metrics_listen,
                telemetry.registry,
                gateway_checks(store.engine, writer, witnessing.reachable_quorum),
            )
            if config.observability.metrics_listen
            else None
        )
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    log.info(
        "gateway for %s listening on port %d; ledger verifier key %s",
        federation.name,
        port,
        ledger_vkey,
    )
    return GatewayServer(
        grpc_server=server,
        health_servicer=health_servicer,
        policy=policy,
        writer=writer,
        queries=queries,
        pool=pool,
        openings=OpeningsRetention(
            store, audit, retention_seconds=config.openings_retention_days * 86_400, clock=clock
        ),
        witnessing=witnessing,
        tiles=TileSource(store) if config.tiles_listen else None,
        tiles_listen=config.tiles_listen,
        closers=closers,
        telemetry=telemetry,
        probes=probes,
    ), port


def load_gateway_witness_policy(config: GatewayConfig, ledger: NoteVerifier) -> WitnessPolicy:
    """The gateway's witness policy: which witnesses to ask (each with its URL) and the
    quorum a checkpoint needs before it is published.

    Raises:
        ConfigError: an unreadable or invalid policy, a witness without a URL, or a policy
            whose log lines do not name this gateway's ledger key.
    """
    if config.witness_policy is None:
        return WitnessPolicy.unwitnessed((ledger,))
    policy = WitnessPolicy.load(config.witness_policy)
    if policy.logs and ledger not in policy.logs:
        raise ConfigError(
            f"{config.witness_policy}: its log lines do not list this gateway's ledger key "
            f"{ledger.to_vkey()}"
        )
    missing = [w.name for w in policy.witnesses.values() if not w.url]
    if missing:
        raise ConfigError(
            f"{config.witness_policy}: the gateway needs the URL of every witness it asks "
            f"('witness <name> <vkey> <url>'); none for {', '.join(missing)}"
        )
    return policy


def witness_ssl_context(config: GatewayConfig) -> ssl.SSLContext | None:
    """TLS for HTTPS witnesses: the configured roots, else the system's (None)."""
    if config.witness_ca is None:
        return None
    try:
        return ssl.create_default_context(cafile=str(config.witness_ca))
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"witness_ca {config.witness_ca}: {exc}") from None
