"""The metrics of alprfed's services, each family registered on one service's own registry.

Names follow the Prometheus conventions: ``alprfed_`` prefix, base units (seconds), counters
ending ``_total``. Labels hold only bounded, public values — gRPC method and status names,
agency ids, rule ids, witness names, outcomes — never a plate, warrant id or case number.
docs/OPERATIONS.md lists every family.

Gauges that need a database query (sightings held, replay cache, purge lag) are read at
scrape time through ``SampledGauges``, which asks the database at most once per
``SAMPLE_INTERVAL_S`` so a scraper (or several) never loads the node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Container, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from alprfed.query import AgencyOutcome

SAMPLE_INTERVAL_S = 15.0
# Latency buckets from 1 ms to 10 s: a node search is milliseconds, a witnessed query
# hundreds of milliseconds, a stalled witness seconds.
LATENCY_BUCKETS_S = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# A node's evidence check (agency_node/evidence_verifier.py) takes a few tenths of a
# millisecond: buckets 50 µs apart up to 1 ms, so histogram_quantile places its p50 within
# 50 µs, and 0.5 ms (issue 10's budget for it) is an edge, so the share of checks within the
# budget is exact; 250-500 µs apart to 2.5 ms, where a loaded machine puts a fresh
# checkpoint's check; then coarse, up to a node too loaded to answer in time.
EVIDENCE_BUCKET_S = 0.00005
EVIDENCE_BUCKETS_S = (
    *(round(i * EVIDENCE_BUCKET_S, 5) for i in range(1, 21)),
    0.00125,
    0.0015,
    0.002,
    0.0025,
    0.005,
    0.01,
    0.1,
)


class RpcMetrics:
    """Every gRPC call a server handled, by method and status code (the interceptor's)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.handled = Counter(
            "alprfed_rpc_server_handled_total",
            "gRPC calls completed by this server, by method and status code",
            ["service", "method", "code"],
            registry=registry,
        )
        self.duration = Histogram(
            "alprfed_rpc_server_duration_seconds",
            "Time from a call's arrival to its status, by method and status code",
            ["service", "method", "code"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

        # (method, code) -> its two children: .labels() costs more than the observation
        # itself (cProfile, docs/PERFORMANCE.md "Observability"); methods and codes are few.
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    def observe(self, full_method: str, code: str, seconds: float) -> None:
        children = self._children.get((full_method, code))
        if children is None:
            service, method = split_method(full_method)
            children = (
                self.handled.labels(service, method, code),
                self.duration.labels(service, method, code),
            )
            self._children[(full_method, code)] = children
        children[0].inc()
        children[1].observe(seconds)


def split_method(full_method: str) -> tuple[str, str]:
    """``/alprfed.v1.Gateway/Query`` -> ``("alprfed.v1.Gateway", "Query")``."""
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or "unknown"


class GatewayMetrics:
    """Refusals, fan-out outcomes, ledger size and the latency of appending and witnessing."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.refusals = Counter(
            "alprfed_gateway_refusals_total",
            "Agencies a query was refused for, by the rule that refused it (gate or node)",
            ["rule"],
            registry=registry,
        )
        self.fanout = Counter(
            "alprfed_gateway_fanout_outcomes_total",
            "Per-agency outcomes of queries, by agency and outcome",
            ["agency", "outcome"],
            registry=registry,
        )
        self.append_seconds = Histogram(
            "alprfed_ledger_append_seconds",
            "Time to commit one batch of ledger entries and its checkpoint",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )
        self.appended = Counter(
            "alprfed_ledger_appended_entries_total",
            "Ledger entries committed by this gateway process",
            registry=registry,
        )
        self.witnessing_seconds = Histogram(
            "alprfed_ledger_witnessing_seconds",
            "Time from a checkpoint's signing to its publication at witness quorum",
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )

    def record_query(self, outcomes: Iterable[AgencyOutcome], *, listed: Container[str]) -> None:
        """One query's outcome for each target agency, and the rules that refused it."""
        for outcome in outcomes:
            # A target the federation does not list is the caller's own text: not a label.
            agency = outcome.agency_id if outcome.agency_id in listed else "unlisted"
            self.fanout.labels(agency, outcome.outcome.value).inc()
            for reason in outcome.reasons:
                self.refusals.labels(reason.rule_id).inc()

    def batch_committed(self, entries: int, seconds: float) -> None:
        self.append_seconds.observe(seconds)
        self.appended.inc(entries)


class NodeMetrics:
    """What a node ingested and refused; its sampled gauges are added by ``SampledGauges``."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter(
            "alprfed_node_ingested_sightings_total",
            "Sightings stored by IngestSightings (rate() of it is the ingest rate)",
            registry=registry,
        )
        self.refusals = Counter(
            "alprfed_node_refusals_total",
            "Searches this node refused under its state's law, by rule",
            ["rule"],
            registry=registry,
        )
        self.searches = Counter(
            "alprfed_node_searches_total",
            "Searches answered with a signed receipt, by result (results or denied)",
            ["result"],
            registry=registry,
        )
        self.evidence = Histogram(
            "alprfed_node_evidence_check_seconds",
            "Time to check one search's evidence (checkpoint, entries, warrant or exigent "
            "approval), by outcome (verified or refused)",
            ["outcome"],
            buckets=EVIDENCE_BUCKETS_S,
            registry=registry,
        )
        # Resolved once: .labels() costs more than the observation (see RpcMetrics).
        self._evidence = {o: self.evidence.labels(o) for o in ("verified", "refused")}

    def evidence_checked(self, verified: bool, seconds: float) -> None:
        self._evidence["verified" if verified else "refused"].observe(seconds)


class WitnessMetrics:
    """The witness's add-checkpoint requests and their latency, by HTTP status."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.requests = Counter(
            "alprfed_witness_requests_total",
            "add-checkpoint requests answered, by HTTP status code",
            ["code"],
            registry=registry,
        )
        self.duration = Histogram(
            "alprfed_witness_request_duration_seconds",
            "Time to answer one add-checkpoint request, by HTTP status code",
            ["code"],
            buckets=LATENCY_BUCKETS_S,
            registry=registry,
        )


class SampledGauges(Collector):
    """Gauges read from a callable at scrape time, at most once per ``interval_s``.

    ``sample`` returns {metric name: value}; ``help`` gives each name's help text. A sample
    that raises is not shown (the gauge disappears until the source answers again) rather
    than repeating a stale value as if it were fresh; /readyz reports the failure.
    """

    def __init__(
        self,
        sample: Callable[[], Mapping[str, float]],
        help_texts: Mapping[str, str],
        *,
        interval_s: float = SAMPLE_INTERVAL_S,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sample = sample
        self._help = dict(help_texts)
        self._interval = interval_s
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._taken_at = -float("inf")
        self._values: Mapping[str, float] = {}

    def describe(self) -> list[Metric]:
        return [GaugeMetricFamily(name, text) for name, text in self._help.items()]

    def collect(self) -> list[Metric]:
        with self._lock:
            now = self._monotonic()
            if now - self._taken_at >= self._interval:
                try:
                    self._values = self._sample()
                except Exception:  # shown as absent, see the class docstring
                    self._values = {}
                self._taken_at = now
            values = dict(self._values)
        return [
            GaugeMetricFamily(name, self._help[name], value=value)
            for name, value in values.items()
            if name in self._help
        ]
