"""Where a verifier reads a ledger from: its database (operators) or a gateway (auditors).

``LedgerSource`` is the small protocol verification, iteration and the CLI need. The database
(``LedgerReader``/``LedgerStore``) implements it directly; ``alprfed.ledger.remote`` implements
it over the ``alprfed.v1.Ledger`` service. Nothing a source returns is trusted: every checkpoint
is signature-checked and every entry and proof recomputed by the caller.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from typing import Protocol

from alprfed.errors import LedgerError, LedgerVerificationError
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.entry import EntryKind, LedgerEntryView, decode_entry
from alprfed.ledger.tlog_proof import TlogProof

ENTRY_PAGE = 1000  # entries per read; also the most the Ledger service returns per call


class LedgerSource(Protocol):
    def latest_checkpoint(self) -> str: ...

    def checkpoints(self, min_size: int = 0, max_size: int | None = None) -> list[str]: ...

    def entries(self, start: int, end: int) -> list[bytes]: ...

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...


def iter_entries(
    source: LedgerSource,
    *,
    start: int = 0,
    end: int | None = None,
    kinds: Collection[EntryKind | str] | None = None,
    page_size: int = ENTRY_PAGE,
) -> Iterator[LedgerEntryView]:
    """Decoded entries from ``start`` up to ``end`` (default: the end of the log), optionally
    only those of ``kinds`` -- what replaying tools (``ledger audit``) iterate over.

    This reads, it does not verify: run verify_ledger first when it matters.

    Raises:
        LedgerVerificationError: an entry does not decode (its index is set).
    """
    wanted = None if kinds is None else {EntryKind(kind) for kind in kinds}
    position = start
    while end is None or position < end:
        stop = position + page_size if end is None else min(position + page_size, end)
        page = source.entries(position, stop)
        if not page:
            return
        for data in page:
            try:
                view = decode_entry(data)
            except LedgerVerificationError as exc:
                raise LedgerVerificationError(str(exc), index=position) from None
            position += 1
            if wanted is None or view.kind in wanted:
                yield view


def build_tlog_proof(source: LedgerSource, index: int) -> str:
    """An offline receipt for entry ``index`` against the source's newest checkpoint.

    Raises:
        LedgerRangeError: no such entry. LedgerError: the source returned no entry.
    """
    note = source.latest_checkpoint()
    size = read_checkpoint(note).size  # only to ask for the path; the receipt is verified later
    path = source.inclusion_proof(index, size)
    data = source.entries(index, index + 1)
    if len(data) != 1:
        raise LedgerError(f"the ledger returned no entry {index}")
    return TlogProof(index, tuple(path), note, extra=data[0]).to_text()
