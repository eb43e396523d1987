"""The gateway's metrics beyond its RPCs, and what /readyz checks (docs/OPERATIONS.md).

Ready means: the database answers, the ledger writer takes appends, and the witnesses whose
last answer was a cosignature meet the quorum (a gateway without them answers every
permitted query "ledger not witnessed", so it should not be sent traffic).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Container, Iterator, Mapping, Sequence

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Engine

from alprfed.ledger import LedgerWriter
from alprfed.ledger.reader import LedgerReader
from alprfed.messages import Outcome
from alprfed.observability.metrics import GatewayMetrics, SampledGauges
from alprfed.observability.probes import ReadinessCheck, database_check
from alprfed.query import AgencyOutcome
from gateway.witnessing import WitnessState

# The query service's logger: the answer's line is the query's, not this module's.
log = logging.getLogger("alprfed.gateway.query")

LEDGER_GAUGES = {
    "alprfed_ledger_entries": "Entries in the ledger (its tree size)",
    "alprfed_ledger_published_entries": (
        "Entries covered by the newest stored publication (witnessed checkpoint)"
    ),
}


def ledger_gauges(ledger: LedgerReader) -> SampledGauges:
    def sample() -> Mapping[str, float]:
        return {
            "alprfed_ledger_entries": ledger.size(),
            "alprfed_ledger_published_entries": ledger.published_size(),
        }

    # Two single-row reads: cheap enough to be fresh at every scrape.
    return SampledGauges(sample, LEDGER_GAUGES, interval_s=0)


def report_answer(
    metrics: GatewayMetrics | None,
    query_id: str,
    outcomes: Sequence[AgencyOutcome],
    complete: bool,
    *,
    listed: Container[str],
) -> None:
    """Count one query's outcomes and log its one line: ids and counts only, never the
    plate, case number or warrant."""
    if metrics is not None:
        metrics.record_query(outcomes, listed=listed)
    log.info(
        "query %s answered: %d of %d agencies with results, complete=%s",
        query_id,
        sum(o.outcome is Outcome.RESULTS for o in outcomes),
        len(outcomes),
        complete,
    )


def gateway_checks(
    engine: Engine, writer: LedgerWriter, witness_quorum: Callable[[], str | None]
) -> dict[str, ReadinessCheck]:
    return {
        "database": database_check(engine),
        "ledger_writer": lambda: None if writer.accepting else "the ledger writer is closed",
        "witness_quorum": witness_quorum,
    }


class WitnessGauges(Collector):
    """Per-witness state as the gateway's witnessing last saw it (no database involved)."""

    def __init__(self, states: Callable[[], Mapping[str, WitnessState]]) -> None:
        self._states = states

    def describe(self) -> list[Metric]:
        return list(self._families({}))

    def collect(self) -> list[Metric]:
        return list(self._families(self._states()))

    @staticmethod
    def _families(states: Mapping[str, WitnessState]) -> Iterator[Metric]:
        cosigned = CounterMetricFamily(
            "alprfed_gateway_witness_cosignatures",
            "Valid cosignatures this gateway process collected, by witness",
            labels=["witness"],
        )
        up = GaugeMetricFamily(
            "alprfed_gateway_witness_up",
            "1 when the witness's last answer was a valid cosignature, else 0",
            labels=["witness"],
        )
        for name, state in sorted(states.items()):
            cosigned.add_metric([name], state.cosigned)
            up.add_metric([name], 1 if state.size is not None and not state.last_error else 0)
        yield cosigned
        yield up
