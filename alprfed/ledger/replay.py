"""Recompute a ledger from its entries and hold it against every checkpoint the log signed.

The walk streams entries in order and, at each checkpoint's size, compares the recomputed root
with the signed one. Between two checkpoints it keeps only the leaves since the last good one,
so memory stays bounded by the largest batch. The per-entry checks (canonical decoding, index,
chain) run beside it, in worker processes for large logs (alprfed.ledger.entry_checks); the
first failure in log order is what is reported, whichever check found it.

When a signed root does not match, the first bad entry is found by bisection: a prefix of
``m`` recomputed leaves is intact exactly when the source proves it consistent with the signed
root (RFC 9162 §2.1.4), and that holds for every m up to the first altered entry and for none
after it. The source's proofs come from its subtree store, which is not trusted: a proof can
never vouch for an altered entry, but a store whose subtree hashes were rewritten as well makes
proofs near the alteration fail, and the entry named is then the first the source cannot prove
-- possibly an earlier entry of the same batch, never a later one.

A source that stores subtree hashes (the database: ``StoredNodes``) has every one of them held
against the hash recomputed from the entries, once the entries below it verified: the writer
extends the tree from stored peaks and the log serves proofs from stored nodes, so a damaged
or rewritten node is a finding even when every entry and checkpoint is intact.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from alprfed.errors import LedgerError, LedgerVerificationError
from alprfed.ledger.checkpoint import (
    Checkpoint,
    CheckpointError,
    open_checkpoint,
    read_checkpoint,
)
from alprfed.ledger.chunked_verify import CHUNK_LEVEL, verify_in_chunks
from alprfed.ledger.cosignature import CosignatureVerifier, verify_cosignatures
from alprfed.ledger.entry import GENESIS_PREV
from alprfed.ledger.entry_checks import MAX_WORKERS, EntryChecks
from alprfed.ledger.merkle import CompactRange, NodeId, leaf_hash
from alprfed.ledger.note import NoteError, NoteVerifier
from alprfed.ledger.proof import verify_consistency
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.source import LedgerSource

VERIFY_PAGE = 10_000  # entries per read while verifying
CHECKPOINT_SCAN_SPAN = 10_000  # tree sizes per checkpoint query, to bound each answer
NODE_CHECK_BATCH = 20_000  # recomputed subtree hashes compared with the stored ones per query
CHUNKED_MIN_ENTRIES = 4 << CHUNK_LEVEL  # a database log this large is verified in chunks


@runtime_checkable
class StoredNodes(Protocol):
    """A source that keeps the hash of every complete subtree (the ledger database)."""

    def stored_nodes(self, ids: Sequence[NodeId]) -> Mapping[NodeId, bytes]: ...


@dataclass(frozen=True)
class ReplayResult:
    newest: Checkpoint
    newest_note: str
    checkpoints: int
    remembered_peaks: tuple[bytes, ...] | None  # the tree's peaks at ``remember_size``
    final_peaks: tuple[bytes, ...]  # the peaks of the whole verified tree


class _Replay:
    def __init__(self, source: LedgerSource, remember_size: int | None) -> None:
        self.source = source
        self.nodes = source if isinstance(source, StoredNodes) else None
        self.heard: dict[NodeId, bytes] = {}  # recomputed subtrees not yet compared
        self.tree = CompactRange(on_node=self._hear if self.nodes is not None else None)
        self.base = self.tree.copy()  # the tree at the last checkpoint that verified
        self.window: list[bytes] = []  # leaves since then
        self.remember_size = remember_size
        self.remembered: tuple[bytes, ...] | None = None
        if remember_size == 0:
            self.remembered = ()

    def add(self, data: bytes) -> None:
        leaf = leaf_hash(data)
        self.tree.append(leaf)
        self.window.append(leaf)
        if self.tree.size == self.remember_size:
            self.remembered = tuple(self.tree.peak_hashes())

    def check(self, checkpoint: Checkpoint) -> None:
        intact = self.tree.size == checkpoint.size and self.tree.root() == checkpoint.root
        if not intact:
            bad = self._first_unproven(checkpoint)
            if bad < self.tree.size:
                _fail(
                    bad,
                    f"this is not the entry the log signed in its checkpoint of size "
                    f"{checkpoint.size} (altered, removed, reordered or replaced)",
                )
            _fail(
                bad,
                f"the log signed a checkpoint of size {checkpoint.size} but serves only "
                f"{bad} entries: this one and those after it are missing",
            )
        self.base, self.window = self.tree.copy(), []
        if len(self.heard) >= NODE_CHECK_BATCH:
            self.check_nodes()

    def _hear(self, level: int, index: int, value: bytes) -> None:
        self.heard[(level, index)] = value

    def check_nodes(self) -> None:
        """Compare the stored hash of every subtree recomputed so far (all below a verified
        checkpoint) with the recomputed one."""
        if self.nodes is None or not self.heard:
            return
        wanted = sorted(self.heard, key=lambda node: (node[1] << node[0], node[0]))
        stored = self.nodes.stored_nodes(wanted)
        for level, index in wanted:
            if stored.get((level, index)) != self.heard[(level, index)]:
                first = index << level
                what = "missing" if (level, index) not in stored else "not the hash of its entries"
                _fail(
                    first,
                    f"the stored hash of the subtree of entries {first} to "
                    f"{first + (1 << level) - 1} (level {level}) is {what}: damaged or "
                    "tampered storage; the log would extend or prove from it",
                )
        self.heard.clear()

    def _first_unproven(self, checkpoint: Checkpoint) -> int:
        low, high = self.base.size, self.tree.size
        while low < high:
            middle = (low + high + 1) // 2
            if self._prefix_consistent(middle, checkpoint):
                low = middle
            else:
                high = middle - 1
        return low

    def _prefix_consistent(self, size: int, checkpoint: Checkpoint) -> bool:
        if size > checkpoint.size:
            return False
        prefix = self.base.copy()
        prefix.extend(self.window[: size - self.base.size])
        if size == checkpoint.size:
            return prefix.root() == checkpoint.root
        try:
            proof = self.source.consistency_proof(size, checkpoint.size)
            verify_consistency(size, checkpoint.size, prefix.root(), checkpoint.root, proof)
        except LedgerError:
            return False
        return True


def _fail(index: int, message: str) -> None:
    raise LedgerVerificationError(message, index=index)


def _entry_stream(source: LedgerSource, page_size: int, checks: EntryChecks) -> Iterator[bytes]:
    """Every entry in order; each page is handed to ``checks`` as it is read."""
    position, prev = 0, GENESIS_PREV
    while True:
        page = source.entries(position, position + page_size)
        if not page:
            return
        checks.submit(position, prev, page)
        yield from page
        position, prev = position + len(page), leaf_hash(page[-1])


def _checkpoint_stream(source: LedgerSource, newest_size: int) -> Iterator[str]:
    low = 0
    while low <= newest_size:
        high = low + CHECKPOINT_SCAN_SPAN - 1
        yield from source.checkpoints(low, high)
        low = high + 1
    yield from source.checkpoints(low)  # any beyond the newest are themselves a finding


def replay(
    source: LedgerSource,
    verifiers: Sequence[NoteVerifier],
    *,
    origin: str,
    remember_size: int | None = None,
    page_size: int = VERIFY_PAGE,
    workers: int | None = None,
    witnesses: Sequence[CosignatureVerifier] = (),
    on_progress: Callable[[int], None] | None = None,
) -> ReplayResult:
    """Recompute the chain and tree from every entry and check every stored checkpoint.

    Raises:
        LedgerVerificationError: the first failure, with ``index`` the first bad entry where
            an entry is at fault: a checkpoint that is not validly signed for ``origin``,
            checkpoints out of order, an entry that does not decode, sits at the wrong
            position or does not chain to its predecessor, a signed root the entries do not
            reproduce, entries beyond the newest checkpoint, or a newest checkpoint that is
            not the last one the log lists.

    ``workers`` sets how many processes run the per-entry checks (default: one per CPU for
    large logs, none for small ones). Every cosignature of one of ``witnesses`` on any listed
    checkpoint must verify (which of them suffice is the witness policy's business).
    ``on_progress`` is called with how many more entries were replayed, once per checkpoint
    (the total is the newest checkpoint's size).
    """
    newest_note = source.latest_checkpoint()
    newest = _open(newest_note, verifiers, origin, witnesses)
    chunked = _replay_in_chunks(
        source,
        verifiers,
        origin,
        witnesses,
        newest,
        newest_note,
        remember_size,
        workers,
        on_progress,
    )
    if chunked is not None:
        return chunked
    with EntryChecks.for_log(newest.size, workers) as checks:
        walk = _Replay(source, remember_size)
        try:
            count = _walk(
                source, verifiers, origin, witnesses, newest, walk, checks, page_size, on_progress
            )
        except LedgerVerificationError as exc:
            # An entry check may have found an earlier fault than this one (it runs beside
            # the walk); the first problem in log order is the one to report.
            limit = walk.tree.size if exc.index is None else exc.index
            fault = checks.first_fault()
            if fault is not None and fault[0] < limit:
                _fail(*fault)
            raise
    return ReplayResult(newest, newest_note, count, walk.remembered, tuple(walk.tree.peak_hashes()))


def _walk(
    source: LedgerSource,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    witnesses: Sequence[CosignatureVerifier],
    newest: Checkpoint,
    walk: _Replay,
    checks: EntryChecks,
    page_size: int,
    on_progress: Callable[[int], None] | None,
) -> int:
    entries = _entry_stream(source, page_size, checks)
    last_note, count, last_size = None, 0, -1
    for note in _checkpoint_stream(source, newest.size):
        checkpoint = _open(note, verifiers, origin, witnesses)
        if checkpoint.size <= last_size:
            raise LedgerVerificationError(
                f"checkpoint of size {checkpoint.size} follows one of "
                f"size {last_size}; sizes must grow"
            )
        while walk.tree.size < checkpoint.size:
            data = next(entries, None)
            if data is None:
                break
            walk.add(data)
        walk.check(checkpoint)
        if on_progress is not None:
            on_progress(walk.tree.size - max(last_size, 0))
        last_note, count, last_size = note, count + 1, checkpoint.size
    if last_note is None:
        raise LedgerVerificationError("the log lists no checkpoints")
    walk.check_nodes()
    fault = checks.first_fault()
    if fault is not None and fault[0] < walk.tree.size:
        _fail(*fault)
    if next(entries, None) is not None and not source.checkpoints(last_size + 1):
        # Entries and their checkpoint commit in one transaction, so an entry that is there
        # with no checkpoint listed after the walk read them all is covered by no signature.
        # (A log that grew during the walk lists the newer checkpoint: not checked this run.)
        _fail(
            last_size,
            f"entries lie beyond the newest checkpoint (size {last_size}); "
            "nothing signed covers them",
        )
    if not any(_same_tree(note, newest) for note in source.checkpoints(newest.size, newest.size)):
        raise LedgerVerificationError(
            f"the log's published checkpoint (size {newest.size}) is not one it lists",
            index=min(newest.size, last_size),
        )
    if newest.size > last_size:
        raise LedgerVerificationError(
            f"the log publishes a checkpoint of size {newest.size} but lists none beyond "
            f"size {last_size}",
            index=last_size,
        )
    return count


def _replay_in_chunks(
    source: LedgerSource,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    witnesses: Sequence[CosignatureVerifier],
    newest: Checkpoint,
    newest_note: str,
    remember_size: int | None,
    workers: int | None,
    on_progress: Callable[[int], None] | None,
) -> ReplayResult | None:
    """The whole replay, for a large log in a database, by worker processes reading their own
    chunks of it (alprfed.ledger.chunked_verify); None if it does not apply or found anything,
    and the sequential walk then runs and reports the finding exactly (its progress counts
    from the start again)."""
    count = workers if workers is not None else min(os.cpu_count() or 1, MAX_WORKERS)
    if not isinstance(source, LedgerReader) or count < 2 or newest.size < CHUNKED_MIN_ENTRIES:
        return None
    checkpoints: list[Checkpoint] = []
    try:
        for note in _checkpoint_stream(source, newest.size):
            checkpoint = _open(note, verifiers, origin, witnesses)
            if checkpoints and checkpoint.size <= checkpoints[-1].size:
                return None
            checkpoints.append(checkpoint)
    except LedgerVerificationError:
        return None
    if not checkpoints:
        return None
    last = checkpoints[-1].size
    url = source.engine.url.render_as_string(hide_password=False)
    tree = verify_in_chunks(
        url,
        checkpoints,
        end=last,
        remember_size=remember_size,
        workers=count,
        source=source,
        on_progress=on_progress,
    )
    if tree is None:
        return None
    # As at the end of the walk: nothing unsigned beyond the last checkpoint, and the
    # published checkpoint is one the log lists.
    if source.entries(last, last + 1) and not source.checkpoints(last + 1):
        return None
    if newest.size > last or not any(
        _same_tree(note, newest) for note in source.checkpoints(newest.size, newest.size)
    ):
        return None
    return ReplayResult(
        newest, newest_note, len(checkpoints), tree.remembered_peaks, tree.final_peaks
    )


def _same_tree(note: str, checkpoint: Checkpoint) -> bool:
    try:
        return read_checkpoint(note) == checkpoint
    except CheckpointError:
        return False


def _open(
    note: str,
    verifiers: Sequence[NoteVerifier],
    origin: str,
    witnesses: Sequence[CosignatureVerifier] = (),
) -> Checkpoint:
    try:
        checkpoint = open_checkpoint(note, verifiers, origin=origin)
        if witnesses:
            verify_cosignatures(note, witnesses)
        return checkpoint
    except NoteError as exc:
        try:  # name it by its claimed size, read only for this message
            what = f"the checkpoint of size {read_checkpoint(note).size}"
        except NoteError:
            what = "a malformed checkpoint"
        raise LedgerVerificationError(f"{what} does not verify: {exc.detail}") from None
