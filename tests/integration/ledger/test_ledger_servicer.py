"""The Ledger gRPC service on a real aio server (port 0), read by a real client.

The server (conftest ``ledger_address``) runs on its own event loop in a background thread,
as inside a gateway; callers use the synchronous GrpcLedgerSource an auditor's CLI uses.
Authorization is a small real policy (auditors of "oversight" may open commitments); the
gateway injects its Casbin-backed one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

from alprfed.ledger.entry import EntryKind, PendingEntry, decode_entry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.remote import CHECKPOINT_PAGE, GrpcLedgerSource
from alprfed.ledger.source import ENTRY_PAGE
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.verify import verify_ledger
from alprfed.rpc.identity import INSECURE_IDENTITY_HEADER
from alprfed.v1 import ledger_pb2, ledger_pb2_grpc

AUDITOR = "person:oversight/auditor-lee"
OFFICER = "person:sjpd/officer-garcia"
Fill = Callable[[LedgerStore, list[int]], None]


def _client(ledger_address: str, identity: str = AUDITOR) -> tuple[grpc.Channel, GrpcLedgerSource]:
    channel = grpc.insecure_channel(ledger_address)
    return channel, GrpcLedgerSource(channel, metadata=[(INSECURE_IDENTITY_HEADER, identity)])


@pytest.fixture
def auditor(ledger_address: str) -> Iterator[GrpcLedgerSource]:
    channel, source = _client(ledger_address)
    yield source
    channel.close()


def _stub(ledger_address: str) -> tuple[grpc.Channel, Any]:
    channel = grpc.insecure_channel(ledger_address)
    return channel, ledger_pb2_grpc.LedgerStub(channel)


def test_an_auditor_verifies_the_ledger_over_grpc(
    store: LedgerStore, fill: Fill, auditor: GrpcLedgerSource, verifier: NoteVerifier
) -> None:
    fill(store, [3, 1, 6])
    report = verify_ledger(auditor, [verifier])
    assert report.size == 10
    assert report.checkpoint_note == store.latest_checkpoint()
    assert auditor.entries(0, 10) == store.entries(0, 10)
    assert auditor.inclusion_proof(4, 10) == store.inclusion_proof(4, 10)
    assert auditor.consistency_proof(4, 10) == store.consistency_proof(4, 10)


def test_entries_and_checkpoints_are_paged(
    store: LedgerStore, fill: Fill, auditor: GrpcLedgerSource, ledger_address: str
) -> None:
    fill(store, [1] * (CHECKPOINT_PAGE + 1) + [ENTRY_PAGE + 500])
    size = store.size()
    channel, stub = _stub(ledger_address)
    metadata = [(INSECURE_IDENTITY_HEADER, AUDITOR)]
    try:
        page = stub.GetEntries(ledger_pb2.GetEntriesRequest(start=0, end=size), metadata=metadata)
        assert [e.index for e in page.entries] == list(range(ENTRY_PAGE))
        listed = stub.ListCheckpoints(ledger_pb2.ListCheckpointsRequest(), metadata=metadata)
        assert len(listed.checkpoints) == CHECKPOINT_PAGE
    finally:
        channel.close()
    assert auditor.entries(0, size) == store.entries(0, size)
    assert auditor.checkpoints() == store.checkpoints()
    assert auditor.checkpoints(5, 9) == store.checkpoints(5, 9)


def test_requests_the_log_cannot_answer_are_invalid_arguments(
    store: LedgerStore, fill: Fill, auditor: GrpcLedgerSource, ledger_address: str
) -> None:
    fill(store, [4])
    channel, stub = _stub(ledger_address)
    inverted = ledger_pb2.GetEntriesRequest(start=3, end=1)
    calls = (
        lambda: auditor.inclusion_proof(4, 4),
        lambda: auditor.inclusion_proof(0, 9),
        lambda: auditor.consistency_proof(0, 4),
        lambda: stub.GetEntries(inverted, metadata=[(INSECURE_IDENTITY_HEADER, AUDITOR)]),
    )
    try:
        for call in calls:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    finally:
        channel.close()


def test_opening_a_commitment_is_logged_before_the_plates_are_shown(
    store: LedgerStore, ledger_address: str
) -> None:
    store.append_batch([PendingEntry("query_decision", {"q": 1}, ("7ABC123", "8XYZ999"))])
    channel, stub = _stub(ledger_address)
    try:
        opening = stub.OpenCommitment(
            ledger_pb2.OpenCommitmentRequest(index=0, reason="complaint 2025-17 review"),
            metadata=[(INSECURE_IDENTITY_HEADER, AUDITOR)],
        )
    finally:
        channel.close()
    assert list(opening.plates) == ["7ABC123", "8XYZ999"]
    assert [bytes(s) for s in opening.salts] == [s for _, s in store.open_commitments(0)]
    logged = decode_entry(
        store.entries(opening.opening_ledger_index, opening.opening_ledger_index + 1)[0]
    )
    assert logged.kind == EntryKind.COMMITMENT_OPENED
    assert logged.body == {
        "opened_index": 0,
        "reason": "complaint 2025-17 review",
        "by": {
            "principal": "auditor-lee",
            "organization": "oversight",
            "kind": "person",
            "verified": False,
        },
    }


@pytest.mark.parametrize(
    ("who", "reason", "index", "status"),
    [
        (OFFICER, "curious", 1, grpc.StatusCode.PERMISSION_DENIED),
        (AUDITOR, "  ", 1, grpc.StatusCode.INVALID_ARGUMENT),
        (AUDITOR, "review", 7, grpc.StatusCode.INVALID_ARGUMENT),
        (AUDITOR, "review", 0, grpc.StatusCode.NOT_FOUND),  # its openings were purged
    ],
    ids=["officer_not_allowed", "no_reason", "no_such_entry", "purged"],
)
def test_a_refused_opening_shows_nothing_and_logs_nothing(
    store: LedgerStore,
    ledger_address: str,
    who: str,
    reason: str,
    index: int,
    status: grpc.StatusCode,
) -> None:
    store.append_batch([PendingEntry("query_decision", {"q": 0}, ("7ABC123",))])
    store.purge_openings(before_index=1)
    store.append_batch([PendingEntry("query_decision", {"q": 1}, ("8XYZ999",))])
    channel, stub = _stub(ledger_address)
    try:
        with pytest.raises(grpc.RpcError) as caught:
            stub.OpenCommitment(
                ledger_pb2.OpenCommitmentRequest(index=index, reason=reason),
                metadata=[(INSECURE_IDENTITY_HEADER, who)],
            )
    finally:
        channel.close()
    assert caught.value.code() == status
    assert store.size() == 2


def test_sizes_and_indices_past_any_the_database_holds_are_answered_not_crashed(
    store: LedgerStore, fill: Fill, ledger_address: str
) -> None:
    """uint64 on the wire reaches 2**64 - 1; SQLite's integers stop at 2**63 - 1 (found by
    the RPC fuzzer: INTERNAL from an OverflowError)."""
    fill(store, [3])
    channel, stub = _stub(ledger_address)
    metadata = [(INSECURE_IDENTITY_HEADER, AUDITOR)]
    huge = 2**63
    try:
        listed = stub.ListCheckpoints(
            ledger_pb2.ListCheckpointsRequest(min_size=huge), metadata=metadata
        )
        entries = stub.GetEntries(
            ledger_pb2.GetEntriesRequest(start=huge, end=2**64 - 1), metadata=metadata
        )
    finally:
        channel.close()
    assert list(listed.checkpoints) == []
    assert list(entries.entries) == []
