"""The ``alprfed.v1.Ledger`` service: what oversight bodies read from a gateway's ledger.

Every call is authorized by the injected ``authorize`` (the gateway wires Casbin to it) with
the action "ledger.read", except OpenCommitment, which needs "ledger.open_commitment" and is
itself logged: the opening is appended to the ledger before the plates are returned. Reads run
in a worker thread so SQL never blocks the event loop. Errors are alprfed errors; the shared
interceptor maps them to status codes (a bad index or size is INVALID_ARGUMENT).

Readers see the *published* log: entries, checkpoints and proofs up to the newest checkpoint
the witness quorum cosigned (with no witnesses, every checkpoint is published as signed).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from alprfed.errors import InvalidRequest, LedgerRangeError
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.remote import CHECKPOINT_PAGE
from alprfed.ledger.source import ENTRY_PAGE
from alprfed.rpc.identity import Identity
from alprfed.v1 import ledger_pb2, ledger_pb2_grpc
from gateway.audit import AuditTrail

READ = "ledger.read"
OPEN_COMMITMENT = "ledger.open_commitment"
MAX_REASON_LENGTH = 500  # characters; a sentence or two, kept in the ledger

Authorize = Callable[[grpc.aio.ServicerContext, str], Awaitable[Identity]]


class LedgerServicer(ledger_pb2_grpc.LedgerServicer):  # type: ignore[misc]
    """Serves one ledger. ``authorize(context, action)`` returns the caller or raises."""

    def __init__(self, store: LedgerReader, audit: AuditTrail, authorize: Authorize) -> None:
        self._store = store
        self._audit = audit
        self._authorize = authorize

    def add_to_server(self, server: Any) -> None:
        ledger_pb2_grpc.add_LedgerServicer_to_server(self, server)

    async def GetCheckpoint(
        self, request: ledger_pb2.GetCheckpointRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.Checkpoint:
        await self._authorize(context, READ)
        note = await asyncio.to_thread(self._store.latest_checkpoint)
        return ledger_pb2.Checkpoint(note=note)

    async def ListCheckpoints(
        self, request: ledger_pb2.ListCheckpointsRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.CheckpointList:
        """At most CHECKPOINT_PAGE, oldest first; ask again from the last size + 1."""
        await self._authorize(context, READ)
        max_size = request.max_size or None
        if max_size is not None and max_size < request.min_size:
            raise InvalidRequest("max_size is below min_size", field="max_size")
        published = await asyncio.to_thread(self._store.published_size)
        if request.min_size > published:
            # Nothing is published there; sizes past any the database can hold (up to
            # 2**64 - 1 on the wire) must not reach it.
            return ledger_pb2.CheckpointList()
        max_size = published if max_size is None else min(max_size, published)
        notes = await asyncio.to_thread(
            self._store.checkpoints, request.min_size, max_size, limit=CHECKPOINT_PAGE
        )
        return ledger_pb2.CheckpointList(checkpoints=[ledger_pb2.Checkpoint(note=n) for n in notes])

    async def GetEntries(
        self, request: ledger_pb2.GetEntriesRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.EntryList:
        """Entries with start <= index < end, at most ENTRY_PAGE of them."""
        await self._authorize(context, READ)
        if request.end < request.start:
            raise InvalidRequest("end is before start", field="end")
        published = await asyncio.to_thread(self._store.published_size)
        if request.start >= published:
            return ledger_pb2.EntryList()  # nothing published there (and no such index in SQL)
        end = min(request.end, request.start + ENTRY_PAGE, published)
        rows = await asyncio.to_thread(self._store.indexed_entries, request.start, end)
        return ledger_pb2.EntryList(
            entries=[ledger_pb2.LedgerEntry(index=index, data=data) for index, data in rows]
        )

    async def GetInclusionProof(
        self, request: ledger_pb2.GetInclusionProofRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.InclusionProof:
        await self._authorize(context, READ)
        await self._check_published(request.tree_size)
        hashes = await asyncio.to_thread(
            self._store.inclusion_proof, request.index, request.tree_size
        )
        return ledger_pb2.InclusionProof(
            index=request.index, tree_size=request.tree_size, hashes=hashes
        )

    async def GetConsistencyProof(
        self, request: ledger_pb2.GetConsistencyProofRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.ConsistencyProof:
        await self._authorize(context, READ)
        await self._check_published(request.new_size)
        hashes = await asyncio.to_thread(
            self._store.consistency_proof, request.old_size, request.new_size
        )
        return ledger_pb2.ConsistencyProof(
            old_size=request.old_size, new_size=request.new_size, hashes=hashes
        )

    async def _check_published(self, tree_size: int) -> None:
        """Proofs are served only up to the published checkpoint: nothing below the witness
        quorum is offered as something to rely on."""
        published = await asyncio.to_thread(self._store.published_size)
        if tree_size > published:
            raise LedgerRangeError(
                f"tree size {tree_size} is beyond the published checkpoint (size {published})"
            )

    async def OpenCommitment(
        self, request: ledger_pb2.OpenCommitmentRequest, context: grpc.aio.ServicerContext
    ) -> ledger_pb2.CommitmentOpening:
        """Open one entry's plate commitments, after logging who opened them and why.

        Raises:
            InvalidRequest: no reason, or a reason longer than MAX_REASON_LENGTH.
            LedgerRangeError: no such entry. NotFound: its openings were purged.
        """
        identity = await self._authorize(context, OPEN_COMMITMENT)
        reason = request.reason.strip()
        if not reason or len(reason) > MAX_REASON_LENGTH:
            raise InvalidRequest(f"say why, in 1 to {MAX_REASON_LENGTH} characters", field="reason")
        # Fail before logging when there is nothing to open; log before anything is shown.
        await asyncio.to_thread(self._store.open_commitments, request.index)
        entry = await self._audit.commitment_opened(
            opened_index=request.index, reason=reason, by=identity
        )
        openings = await asyncio.to_thread(self._store.open_commitments, request.index)
        return ledger_pb2.CommitmentOpening(
            index=request.index,
            plates=[plate for plate, _ in openings],
            salts=[salt for _, salt in openings],
            opening_ledger_index=entry.index,
        )
