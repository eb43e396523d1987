"""What the evidence check adds to a node search, timed by the node itself in the same run.

Issue 10 budgets 0.5 ms for the node's full evidence check. Comparing a search p50 with a
figure from before the evidence existed says nothing on a machine whose speed moves 1.5x
between hours, and the node has, rightly, no switch that turns its checks off. So the check is
timed where it runs: the node observes every search's ``EvidenceVerifier.verify`` (all the
numbered steps, wall time, on its own gRPC worker thread, under whatever load the machine
has) in its ``alprfed_node_evidence_check_seconds`` histogram, which operators scrape from
/metrics (docs/OPERATIONS.md). The benchmark reads that histogram just before and just after a
phase's timed calls: the difference holds exactly those calls' checks, taken in the same
seconds as the search latencies they are part of. Timing the verifier in the benchmark's own
process instead would time another process (no gRPC threads contending for its interpreter,
other caches); this is the node's own account of the searches being timed.

What this leaves out is the evidence's bytes on the wire and their protobuf parse (a few KB of
one field), which the node cannot time apart from the call.

From buckets the p50 is interpolated within its bucket, as Prometheus's ``histogram_quantile``
does: within 50 µs below 1 ms (``EVIDENCE_BUCKETS_S``), where 0.5 ms is an edge so the share
of checks within the budget is exact, and within 250-500 µs from 1 to 2.5 ms. The mean is
exact (the histogram's sum over its count).

Beside it, one bare Ed25519 verification timed here in the same minute: a fresh checkpoint
costs at least three (the log's signature and a quorum of two cosignatures). A unit of the
same minute, though not a constant one: the machine's speed moves this Python-heavy check more
than it moves OpenSSL's verification (docs/PERFORMANCE.md).
"""

from __future__ import annotations

import math
import urllib.request
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from alprfed.signing import SigningKey
from bench.stats import percentile, time_each

FAMILY = "alprfed_node_evidence_check_seconds"
OUTCOME = "verified"  # the benchmark's queries all verify; a refusal fails the part
SCRAPE_TIMEOUT_S = 10.0
BARE_VERIFICATIONS = 300
BARE_WARMUP = 30
# A cosigned checkpoint message is about this long (origin, size, root, cosignature header).
CHECKPOINT_MESSAGE_BYTES = 140


@dataclass(frozen=True)
class EvidenceHistogram:
    """The node's histogram of verified checks at one moment: cumulative counts by bucket
    edge (seconds, ascending, ending at +inf), the sum of seconds and the count."""

    buckets: tuple[tuple[float, float], ...]
    seconds: float
    count: float

    def minus(self, before: EvidenceHistogram) -> EvidenceChecks:
        """The checks made between ``before`` and this moment."""
        edges = [edge for edge, _ in self.buckets]
        if edges != [edge for edge, _ in before.buckets]:
            raise ValueError("the two scrapes have different buckets")
        counts = tuple(
            (edge, now - then)
            for (edge, now), (_, then) in zip(self.buckets, before.buckets, strict=True)
        )
        return EvidenceChecks(counts, self.seconds - before.seconds, int(self.count - before.count))


@dataclass(frozen=True)
class EvidenceChecks:
    """The node's evidence checks during one phase."""

    buckets: tuple[tuple[float, float], ...]  # cumulative, as in the histogram
    seconds: float
    count: int

    @property
    def mean(self) -> float:
        return self.seconds / self.count if self.count else math.nan

    def quantile(self, fraction: float) -> float:
        """As ``histogram_quantile``: linear within the bucket holding the rank; the highest
        finite edge when the rank is in the +inf bucket. Raises: ValueError with no checks."""
        if not self.count:
            raise ValueError("the node timed no evidence check in this phase")
        rank = fraction * self.count
        lower, below = 0.0, 0.0
        for edge, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(edge):
                    return lower
                return lower + (edge - lower) * (rank - below) / (cumulative - below)
            lower, below = edge, cumulative
        return lower

    def within(self, limit_s: float) -> float:
        """The share of checks that took at most ``limit_s`` (exact when it is an edge).
        Raises: ValueError when ``limit_s`` is not a bucket edge."""
        for edge, cumulative in self.buckets:
            if math.isclose(edge, limit_s, rel_tol=1e-9):
                return cumulative / self.count if self.count else math.nan
        raise ValueError(f"{limit_s} s is not an edge of the node's histogram")


def scrape(metrics_port: int) -> EvidenceHistogram:
    """The node's histogram of verified evidence checks, from its /metrics on loopback
    (only this family is asked for, so the node's database-backed gauges are not sampled)."""
    names = "&".join(f"name[]={FAMILY}_{suffix}" for suffix in ("bucket", "sum", "count"))
    url = f"http://127.0.0.1:{metrics_port}/metrics?{names}"
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:
        text = response.read().decode("utf-8")
    buckets: list[tuple[float, float]] = []
    seconds = count = 0.0
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.labels.get("outcome") != OUTCOME:
                continue
            if sample.name == f"{FAMILY}_bucket":
                buckets.append((float(sample.labels["le"]), sample.value))
            elif sample.name == f"{FAMILY}_sum":
                seconds = sample.value
            elif sample.name == f"{FAMILY}_count":
                count = sample.value
    buckets.sort()
    return EvidenceHistogram(tuple(buckets), seconds, count)


def bare_verification_s() -> float:
    """The p50 of one Ed25519 verification through the node's own wrapper
    (``alprfed.signing``), over a checkpoint-sized message, in this process now."""
    key = SigningKey.generate()
    message = bytes(CHECKPOINT_MESSAGE_BYTES)
    signature = key.sign(message)
    public = key.public
    samples = time_each(
        lambda _: public.verify(signature, message), count=BARE_VERIFICATIONS, warmup=BARE_WARMUP
    )
    return percentile(samples, 0.5)
