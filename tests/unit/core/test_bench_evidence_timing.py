"""bench.evidence_timing: the node's evidence histogram, scraped over real HTTP and read the
way histogram_quantile reads it."""

from __future__ import annotations

import random

import pytest
from prometheus_client import CollectorRegistry

from alprfed.observability.metrics import EVIDENCE_BUCKET_S, NodeMetrics
from alprfed.observability.probes import ProbeServer
from bench.evidence_timing import scrape
from bench.stats import percentile


def test_a_phase_is_read_from_two_scrapes_within_one_bucket_of_its_true_p50() -> None:
    registry = CollectorRegistry()
    metrics = NodeMetrics(registry)
    probes = ProbeServer("127.0.0.1:0", registry, {})
    probes.start()
    rng = random.Random(5)
    try:
        for _ in range(50):  # an earlier phase, slow: it must not leak into the next one
            metrics.evidence_checked(True, 0.004)
        metrics.evidence_checked(False, 0.0001)  # refusals are not the benchmark's checks
        before = scrape(probes.port)
        phase = [rng.uniform(0.0002, 0.0007) for _ in range(1000)]
        for seconds in phase:
            metrics.evidence_checked(True, seconds)
        checks = scrape(probes.port).minus(before)
    finally:
        probes.stop()
    assert checks.count == len(phase)
    assert checks.mean == pytest.approx(sum(phase) / len(phase))
    assert checks.quantile(0.5) == pytest.approx(percentile(phase, 0.5), abs=EVIDENCE_BUCKET_S)
    assert checks.quantile(0.9) == pytest.approx(percentile(phase, 0.9), abs=EVIDENCE_BUCKET_S)
    assert checks.within(0.0005) == sum(s <= 0.0005 for s in phase) / len(phase)
    with pytest.raises(ValueError, match="not an edge"):
        checks.within(0.00049)


def test_a_phase_without_checks_has_no_quantile() -> None:
    registry = CollectorRegistry()
    NodeMetrics(registry)
    probes = ProbeServer("127.0.0.1:0", registry, {})
    probes.start()
    try:
        nothing = scrape(probes.port).minus(scrape(probes.port))
    finally:
        probes.stop()
    assert nothing.count == 0
    with pytest.raises(ValueError, match="no evidence check"):
        nothing.quantile(0.5)
