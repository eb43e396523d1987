"""The subtree hashes of the log's recent growth, kept by its writer for consistency proofs.

Every witnessed round sends each witness a consistency proof from the last checkpoint it
cosigned -- a recent one -- to the new head, and a query waits for that round (gateway/
witnessing.py). Such a proof (RFC 9162 §2.1.4) needs only subtrees the writer derived itself
when it appended them: each range SUBPROOF takes lies wholly left of the old size, where it is
made of the old tree's peaks (``merkle.peaks``), or wholly right of it, in the entries appended
since. Keeping the last ``RECENT_NODES`` of those in memory lets the proof be assembled at
once, without a database round trip on a worker thread.

Subtree hashes of an append-only log never change, so nothing kept goes stale, whichever
replica appended meanwhile; a proof whose subtrees are not all here is read from the database
as before. Only subtrees of committed batches are recorded. A wrong hash could only make a
witness refuse the proof (it verifies every one), never make it cosign.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from alprfed.ledger.merkle import NodeId, assemble, consistency_plan, peaks

# Subtrees kept: a batch of b entries writes about 2b of them, so this covers thousands of
# recent entries (witnesses lag one or two checkpoints) in about 1 MB (Python objects).
RECENT_NODES = 4096


class RecentNodes:
    """The newest subtree hashes the writer committed, and the peaks of its newest tree.
    Thread-safe: the writer records from its thread, the witnessing reads on the event loop."""

    def __init__(self, capacity: int = RECENT_NODES) -> None:
        self._capacity = capacity
        self._nodes: OrderedDict[NodeId, bytes] = OrderedDict()
        self._size = 0  # the largest committed tree size recorded
        self._lock = threading.Lock()

    def record(
        self, size: int, peak_hashes: Sequence[bytes], written: Iterable[tuple[NodeId, bytes]]
    ) -> None:
        """A batch committed: the subtrees it wrote, and the peaks of the tree of ``size``
        (kept fresh, since every later proof from a recent size starts from them)."""
        with self._lock:
            for node, value in (*written, *zip(peaks(size), peak_hashes, strict=True)):
                self._nodes[node] = value
                self._nodes.move_to_end(node)
            while len(self._nodes) > self._capacity:
                self._nodes.popitem(last=False)
            self._size = max(self._size, size)

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes] | None:
        """The proof from ``old_size`` to ``new_size`` if every subtree it needs is here,
        else None (ask the database; sizes it refuses are refused there, with their error)."""
        if not 0 < old_size <= new_size <= self._size:
            return None
        plan = consistency_plan(old_size, new_size)
        with self._lock:
            try:
                return assemble(plan, self._nodes)
            except KeyError:
                return None
