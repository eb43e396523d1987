"""Verify the ledger, replay its decisions, and gather the report: ``compile_report``.

Verify, then trust: nothing is gathered from a ledger until ``verify_ledger`` (every entry,
every checkpoint, and the witness policy's quorum on the published checkpoint) has passed, and
the report is refused when the audit replay finds a decision the published policy contradicts
-- exactly the checks of ``alprfed ledger verify`` and ``alprfed ledger audit``, run by their
own code. The entries read are those the verified checkpoint covers, no more.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alprfed.clock import Clock
from alprfed.errors import LedgerVerificationError
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.source import LedgerSource, iter_entries
from alprfed.ledger.verify import VerificationReport, verify_ledger
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.policy.replay import AuditReport, audit_entries
from alprfed.report.facts import (
    FAR_BEYOND_STATES,
    AccessRow,
    AgencyFacts,
    Anomaly,
    Collector,
    purge_anomalies,
)

DAY_S = 86_400


@dataclass(frozen=True)
class ReportSettings:
    """How the report judges what it shows (docs/REPORT.md)."""

    # A node whose latest purge report is older than this is listed as overdue: nodes purge
    # every purge_interval_seconds (a minute by default) and queue a report for every run, so
    # a day without one means the purges or their delivery to the ledger stopped.
    purge_grace_s: int = DAY_S
    # A query permitted to search agencies in more than this many other states is listed.
    far_beyond_states: int = FAR_BEYOND_STATES


@dataclass(frozen=True)
class TransparencyReport:
    verified: VerificationReport
    audit: AuditReport
    witness_policy: WitnessPolicy | None
    agencies: tuple[AgencyFacts, ...]
    access: tuple[AccessRow, ...]
    anomalies: tuple[Anomaly, ...]
    built_at: int  # when verification passed, Unix seconds


def compile_report(
    source: LedgerSource,
    verifiers: Sequence[NoteVerifier],
    *,
    witness_policy: WitnessPolicy | None,
    clock: Clock,
    state_file: Path | None = None,
    settings: ReportSettings = ReportSettings(),
    on_verified: Callable[[int], None] | None = None,
    on_compiled: Callable[[int], None] | None = None,
) -> TransparencyReport:
    """Verify ``source`` and gather everything the pages show.

    The two passes over the entries report progress: ``on_verified`` with how many more were
    verified (once per checkpoint), ``on_compiled`` with how many more were gathered.

    Raises:
        LedgerVerificationError: the ledger does not verify (naming the first bad entry), is
            not witnessed as ``witness_policy`` requires, or the audit replay found a logged
            decision the policy in force contradicts.
        LedgerError: the monitor state file is unreadable or for another log.
    """
    verified = verify_ledger(
        source,
        verifiers,
        state_file=state_file,
        witness_policy=witness_policy,
        on_progress=on_verified,
    )
    collector = Collector(far_beyond_states=settings.far_beyond_states)
    entries = _counted(iter_entries(source, end=verified.size), on_compiled)
    audit = audit_entries(collector.observe(entries))
    collector.finish()
    if not audit.clean:
        first = audit.disagreements[0]
        raise LedgerVerificationError(
            f"the audit replay contradicts {len(audit.disagreements)} logged decision(s), the "
            f"first for {first.agency} in query {first.query_id}: logged {first.logged}, the "
            f"policy then in force says {first.replayed}; see `alprfed ledger audit`",
            index=first.index,
        )
    now = clock.now()
    agencies = tuple(sorted(collector.agencies.values(), key=lambda a: a.agency))
    anomalies = (
        *collector.protected,
        *collector.far,
        *purge_anomalies(agencies, now, settings.purge_grace_s),
    )
    return TransparencyReport(
        verified=verified,
        audit=audit,
        witness_policy=witness_policy,
        agencies=agencies,
        access=tuple(collector.access.values()),
        anomalies=anomalies,
        built_at=now,
    )


T = TypeVar("T")
_PROGRESS_EVERY = 1_000  # entries between progress calls: a call per entry would cost more


def _counted(entries: Iterator[T], on_progress: Callable[[int], None] | None) -> Iterator[T]:
    """``entries`` unchanged, telling ``on_progress`` every _PROGRESS_EVERY of them."""
    if on_progress is None:
        yield from entries
        return
    pending = 0
    for entry in entries:
        yield entry
        pending += 1
        if pending == _PROGRESS_EVERY:
            on_progress(pending)
            pending = 0
    if pending:
        on_progress(pending)
