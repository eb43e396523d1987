"""A LedgerSource over gRPC: an auditor reading a gateway's ``alprfed.v1.Ledger`` service.

The gateway is not trusted: what it returns is verified by the caller exactly like what a
database returns (alprfed.ledger.verify). Paging follows the service's limits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from alprfed.errors import LedgerError
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.source import ENTRY_PAGE
from alprfed.v1 import ledger_pb2, ledger_pb2_grpc

CHECKPOINT_PAGE = 1000  # the most checkpoints the service returns per ListCheckpoints call
DEFAULT_RPC_TIMEOUT_S = 30.0


class GrpcLedgerSource:
    """A LedgerSource over a gRPC channel to a gateway's Ledger service (synchronous)."""

    def __init__(
        self,
        channel: Any,
        *,
        metadata: Sequence[tuple[str, str]] = (),
        timeout_s: float = DEFAULT_RPC_TIMEOUT_S,
    ) -> None:
        self._stub = ledger_pb2_grpc.LedgerStub(channel)
        self._metadata = tuple(metadata)
        self._timeout = timeout_s

    def _call(self, method: str, request: Any) -> Any:
        return getattr(self._stub, method)(request, metadata=self._metadata, timeout=self._timeout)

    def latest_checkpoint(self) -> str:
        return str(self._call("GetCheckpoint", ledger_pb2.GetCheckpointRequest()).note)

    def checkpoints(self, min_size: int = 0, max_size: int | None = None) -> list[str]:
        notes: list[str] = []
        low = min_size
        while max_size is None or low <= max_size:
            page = self._call(
                "ListCheckpoints",
                ledger_pb2.ListCheckpointsRequest(
                    min_size=low, max_size=0 if max_size is None else max_size
                ),
            ).checkpoints
            notes.extend(item.note for item in page)
            if len(page) < CHECKPOINT_PAGE:
                break
            low = read_checkpoint(page[-1].note).size + 1  # paging only; verified later
        return notes

    def entries(self, start: int, end: int) -> list[bytes]:
        data: list[bytes] = []
        position = start
        while position < end:
            page = self._call(
                "GetEntries",
                ledger_pb2.GetEntriesRequest(start=position, end=min(end, position + ENTRY_PAGE)),
            ).entries
            if not page:
                break
            for item in page:
                if not position <= item.index < end:
                    raise LedgerError(
                        f"the gateway answered entry {item.index} for a request from {position}"
                    )
                data.append(bytes(item.data))
                position = item.index + 1
        return data

    def inclusion_proof(self, index: int, tree_size: int) -> list[bytes]:
        answer = self._call(
            "GetInclusionProof",
            ledger_pb2.GetInclusionProofRequest(index=index, tree_size=tree_size),
        )
        return [bytes(h) for h in answer.hashes]

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]:
        answer = self._call(
            "GetConsistencyProof",
            ledger_pb2.GetConsistencyProofRequest(old_size=old_size, new_size=new_size),
        )
        return [bytes(h) for h in answer.hashes]
