"""The gateway's metrics beyond its RPCs, and what /readyz checks (docs/OPERATIONS.md).

Ready means: the database answers, the ledger writer takes appends, and the witnesses whose
last answer was a cosignature meet the quorum (a gateway without them answers every
permitted query "ledger not witnessed", so it should not be sent traffic).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.engine import Engine

from alprfed.ledger import LedgerWriter
from alprfed.ledger.reader import LedgerReader
from alprfed.observability.metrics import SampledGauges
from alprfed.observability.probes import ReadinessCheck, database_check

LEDGER_GAUGES = {
    "alprfed_ledger_entries": "Entries in the ledger (its tree size)",
    "alprfed_ledger_published_entries": "Entries covered by the newest published checkpoint",
}


def ledger_gauges(ledger: LedgerReader) -> SampledGauges:
    def sample() -> Mapping[str, float]:
        return {
            "alprfed_ledger_entries": ledger.size(),
            "alprfed_ledger_published_entries": ledger.published_size(),
        }

    return SampledGauges(sample, LEDGER_GAUGES)


def gateway_checks(
    engine: Engine, writer: LedgerWriter, witness_quorum: Callable[[], str | None]
) -> dict[str, ReadinessCheck]:
    return {
        "database": database_check(engine),
        "ledger_writer": lambda: None if writer.accepting else "the ledger writer is closed",
        "witness_quorum": witness_quorum,
    }
