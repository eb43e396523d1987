"""The SQL ledger store on SQLite and PostgreSQL: atomic batches, proofs, commitments, races."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable

import pytest
import sqlalchemy as sa

from alprfed.clock import FixedClock
from alprfed.db import writer
from alprfed.errors import (
    ActRecordedMeanwhile,
    ConfigError,
    InvalidRequest,
    LedgerConflict,
    LedgerError,
    LedgerRangeError,
    NotFound,
)
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.entry import GENESIS_PREV, PendingEntry, decode_entry
from alprfed.ledger.merkle import EMPTY_ROOT, MemoryTree, leaf_hash
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.proof import verify_consistency, verify_inclusion
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.recent_nodes import RecentNodes
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.tip import read_tip
from alprfed.ledger.tlog_proof import verify_tlog_proof
from alprfed.ledger.verify import verify_ledger
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
Fill = Callable[[LedgerStore, list[int]], None]


def test_a_new_ledger_starts_with_a_signed_empty_checkpoint(
    store: LedgerStore, verifier: NoteVerifier
) -> None:
    assert store.size() == 0
    checkpoint = open_checkpoint(store.latest_checkpoint(), [verifier], origin=ORIGIN)
    assert (checkpoint.size, checkpoint.root) == (0, EMPTY_ROOT)
    assert store.checkpoints() == [store.latest_checkpoint()]


def test_each_batch_commits_chained_entries_under_one_new_checkpoint(
    store: LedgerStore, verifier: NoteVerifier, decision: Callable[..., PendingEntry]
) -> None:
    prev = GENESIS_PREV
    for batch_size in (1, 3, 5):
        start = store.size()
        appended = store.append_batch([decision(start + i) for i in range(batch_size)])
        assert [e.index for e in appended] == list(range(start, start + batch_size))
        assert {e.checkpoint for e in appended} == {store.latest_checkpoint()}
        for entry in appended:
            view = decode_entry(entry.data)
            assert (view.index, view.prev, view.time) == (entry.index, prev, 1_764_000_000)
            assert entry.leaf_hash == leaf_hash(entry.data)
            prev = entry.leaf_hash
    sizes = [open_checkpoint(n, [verifier], origin=ORIGIN).size for n in store.checkpoints()]
    assert sizes == [0, 1, 4, 9]
    assert store.checkpoints(2, 4) == [store.checkpoints()[2]]


def test_proofs_from_stored_subtrees_equal_a_second_build(
    store: LedgerStore, verifier: NoteVerifier, fill: Fill
) -> None:
    fill(store, [1, 2, 7, 16, 5, 33, 1])
    memory = MemoryTree()
    for data in store.entries(0, store.size()):
        memory.append(data)
    roots = {
        c.size: c.root
        for c in (open_checkpoint(n, [verifier], origin=ORIGIN) for n in store.checkpoints())
    }
    for size, root in roots.items():
        assert memory.root(size) == root
    size = store.size()
    for tree_size in (1, 2, 3, 10, 26, 64, size):
        for index in {0, tree_size // 2, tree_size - 1}:
            proof = store.inclusion_proof(index, tree_size)
            assert proof == memory.inclusion_proof(index, tree_size)
            verify_inclusion(
                index, tree_size, memory.nodes[(0, index)], proof, memory.root(tree_size)
            )
    signed = sorted(s for s in roots if s)
    for old in signed:
        for new in signed:
            if old <= new:
                proof = store.consistency_proof(old, new)
                assert proof == memory.consistency_proof(old, new)
                verify_consistency(old, new, roots[old], roots[new], proof)


def test_the_writers_proofs_from_memory_equal_the_databases(
    store: LedgerStore, database_url: str, verifier: NoteVerifier, fill: Fill
) -> None:
    """The proofs a witnessing round takes from the writer's memory are the ones the stored
    subtrees give, for every pair of checkpoints this writer signed."""
    fill(store, [1, 2, 7, 16, 5, 33, 1, 3])
    signed = [open_checkpoint(n, [verifier], origin=ORIGIN) for n in store.checkpoints()]
    roots = {c.size: c.root for c in signed if c.size}
    database = LedgerReader.open_readonly(database_url)
    try:
        for old in roots:
            for new in (n for n in roots if n >= old):
                remembered = store.recent_consistency_proof(old, new)
                assert remembered is not None, (old, new)
                assert remembered == database.consistency_proof(old, new)
                verify_consistency(old, new, roots[old], roots[new], remembered)
    finally:
        database.close()
    assert store.recent_consistency_proof(0, 5) is None  # refused by the database, as before
    assert store.recent_consistency_proof(5, store.size() + 1) is None


def test_proofs_past_the_writers_memory_come_from_the_database(
    database_url: str, ledger_key: SigningKey, clock: FixedClock, verifier: NoteVerifier
) -> None:
    """A writer that just opened remembers nothing; one that appended more than it keeps
    forgets the oldest subtrees. Either way the proof is the stored one."""
    first = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        for n in range(40):
            first.append_batch([PendingEntry("query_decision", {"query_id": f"a-{n}"})])
    finally:
        first.close()
    reopened = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        assert reopened.recent_consistency_proof(10, 40) is None
        stored = reopened.consistency_proof(10, 40)
        reopened._recent = RecentNodes(capacity=8)  # a small memory, to see it forget
        for n in range(40, 60):
            reopened.append_batch([PendingEntry("query_decision", {"query_id": f"b-{n}"})])
        assert reopened.consistency_proof(10, 40) == stored
        assert reopened.recent_consistency_proof(41, 60) is None  # evicted: from the database
        assert reopened.recent_consistency_proof(58, 60) is not None
        roots = {
            c.size: c.root
            for c in (open_checkpoint(n, [verifier], origin=ORIGIN) for n in reopened.checkpoints())
        }
        for old in (41, 58, 59):
            proof = reopened.consistency_proof(old, 60)
            verify_consistency(old, 60, roots[old], roots[60], proof)
    finally:
        reopened.close()


def test_proof_requests_the_log_cannot_answer_are_refused(store: LedgerStore, fill: Fill) -> None:
    fill(store, [4])
    for index, size in [(4, 4), (0, 5), (-1, 2)]:
        with pytest.raises(LedgerRangeError):
            store.inclusion_proof(index, size)
    for old, new in [(0, 4), (3, 5), (4, 3)]:
        with pytest.raises(LedgerRangeError):
            store.consistency_proof(old, new)
    with pytest.raises(LedgerRangeError):
        store.tlog_proof(4)
    with pytest.raises(LedgerRangeError):
        store.entries(3, 1)


def test_a_receipt_from_the_store_verifies_offline(
    store: LedgerStore, verifier: NoteVerifier, fill: Fill
) -> None:
    fill(store, [3, 4])
    for index in range(7):
        receipt = verify_tlog_proof(store.tlog_proof(index), [verifier], origin=ORIGIN)
        assert (receipt.entry.index, receipt.checkpoint.size) == (index, 7)
        assert receipt.entry.body["query_id"] == f"q-{index}"


def _snapshot(store: LedgerStore) -> dict[str, int]:
    tables = (schema.entries, schema.nodes, schema.checkpoints, schema.openings)
    with store.engine.connect() as conn:
        counts = {
            t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in tables
        }
    return {**counts, "size": store.size()}


def test_a_batch_holding_something_else_than_entries_stores_nothing(
    store: LedgerStore, decision: Callable[..., PendingEntry]
) -> None:
    store.append_batch([decision(0)])
    before = _snapshot(store)
    with pytest.raises(InvalidRequest):
        store.append_batch([decision(1), {"kind": "query_decision"}])  # type: ignore[list-item]
    assert _snapshot(store) == before


def test_a_batch_failing_inside_its_transaction_leaves_no_trace(
    store: LedgerStore, verifier: NoteVerifier, decision: Callable[..., PendingEntry]
) -> None:
    store.append_batch([decision(0, ("7ABC123",))])
    # A stray row where the batch's second entry goes makes the database fail the transaction
    # after the head moved and the first entry was written: all of it must roll back.
    with writer(store.engine).begin() as conn:
        conn.execute(schema.entries.insert().values(idx=2, data=b"stray"))
    before = _snapshot(store)
    with pytest.raises(LedgerError, match="rows beyond the head"):
        store.append_batch([decision(1, ("8XYZ999",)), decision(2), decision(3)])
    assert _snapshot(store) == before
    assert store.latest_checkpoint() == store.checkpoints()[-1]


def test_a_lost_compare_and_swap_writes_nothing(
    store: LedgerStore, decision: Callable[..., PendingEntry]
) -> None:
    store.append_batch([decision(0)])
    with store.engine.connect() as conn:
        stale = read_tip(conn)
    store.append_batch([decision(1)])  # another writer advances the head meanwhile
    before = _snapshot(store)
    with pytest.raises(LedgerConflict), writer(store.engine).begin() as conn:
        store._write_batch(conn, stale, [decision(2)])
    assert _snapshot(store) == before


def test_two_writers_on_one_database_never_fork_the_log(
    database_url: str, ledger_key: SigningKey, clock: FixedClock, verifier: NoteVerifier
) -> None:
    """A gateway launched twice: both append concurrently, yet one linear log results."""
    first = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    second = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    errors: list[BaseException] = []

    def run(target: LedgerStore, name: str) -> None:
        try:
            for batch in range(15):
                target.append_batch(
                    [
                        PendingEntry("query_decision", {"query_id": f"{name}-{batch}-{i}"})
                        for i in range(3)
                    ]
                )
        except BaseException as exc:  # reported below; a thread must not swallow it
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(s, n)) for s, n in ((first, "a"), (second, "b"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        report = verify_ledger(first, [verifier])
        assert report.size == 90
        assert report.checkpoints_checked == 31
        ids = [decode_entry(d).body["query_id"] for d in first.entries(0, 90)]
        assert sorted(ids) == sorted(
            f"{n}-{b}-{i}" for n in "ab" for b in range(15) for i in range(3)
        )
    finally:
        first.close()
        second.close()


def _counting_random() -> Callable[[int], bytes]:
    state = {"n": 0}

    def draw(size: int) -> bytes:
        state["n"] += 1
        return hashlib.sha256(b"salt %d" % state["n"]).digest()[:size]

    return draw


def test_plate_commitments_open_and_match_without_showing_the_plate(
    database_url: str, ledger_key: SigningKey, clock: FixedClock
) -> None:
    store = LedgerStore.open(
        database_url, origin=ORIGIN, signer=ledger_key, clock=clock, random_bytes=_counting_random()
    )
    try:
        [entry] = store.append_batch(
            [PendingEntry("query_decision", {"q": 1}, ("7abc-123", "8XYZ999"))]
        )
        salts = [hashlib.sha256(b"salt %d" % n).digest() for n in (1, 2)]
        assert b"7ABC123" not in entry.data
        assert b"8XYZ999" not in entry.data
        assert decode_entry(entry.data).commitments == (
            hashlib.sha256(salts[0] + b"7ABC123").hexdigest(),
            hashlib.sha256(salts[1] + b"8XYZ999").hexdigest(),
        )
        assert store.open_commitments(0) == [("7ABC123", salts[0]), ("8XYZ999", salts[1])]
        assert store.match_commitment(0, "8xyz 999") == 1
        assert store.match_commitment(0, "7ABC124") is None
    finally:
        store.close()


def test_purging_openings_keeps_every_proof_and_the_log_valid(
    store: LedgerStore,
    verifier: NoteVerifier,
    decision: Callable[..., PendingEntry],
    fill: Fill,
) -> None:
    store.append_batch([decision(0, ("7ABC123",)), decision(1, ("8XYZ999",))])
    fill(store, [3])
    receipt = store.tlog_proof(1)
    proofs = [store.inclusion_proof(i, 5) for i in range(5)]
    assert store.purge_openings(before_index=1) == 1
    with pytest.raises(NotFound, match="purged"):
        store.open_commitments(0)
    with pytest.raises(NotFound):
        store.match_commitment(0, "7ABC123")
    assert store.match_commitment(1, "8XYZ999") == 0
    assert store.purge_openings(before_index=5) == 1
    assert [store.inclusion_proof(i, 5) for i in range(5)] == proofs
    assert store.tlog_proof(1) == receipt
    verify_tlog_proof(receipt, [verifier], origin=ORIGIN)
    assert verify_ledger(store, [verifier]).size == 5
    assert store.open_commitments(2) == []  # an entry without plates has nothing to open


def test_reopening_continues_the_same_log(
    database_url: str,
    ledger_key: SigningKey,
    clock: FixedClock,
    verifier: NoteVerifier,
    fill: Fill,
) -> None:
    for _ in range(2):
        reopened = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
        fill(reopened, [2, 3])
        reopened.close()
    reader = LedgerReader.open_readonly(database_url)
    try:
        assert verify_ledger(reader, [verifier]).size == 10
    finally:
        reader.close()


def test_a_ledger_refuses_another_origin(
    store: LedgerStore, database_url: str, ledger_key: SigningKey, clock: FixedClock
) -> None:
    with pytest.raises(ConfigError, match="origin"):
        LedgerStore.open(database_url, origin="other.example/log", signer=ledger_key, clock=clock)
    with pytest.raises(ConfigError, match="key name"):
        LedgerStore.open(database_url, origin="has space", signer=ledger_key, clock=clock)


def test_reading_a_database_without_a_ledger_is_refused(database_url: str) -> None:
    from alprfed.db import create_engine

    engine = create_engine(database_url)  # a real database, holding something else
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE unrelated (x INTEGER)")
    engine.dispose()
    with pytest.raises(LedgerError, match="no alprfed ledger"):
        LedgerReader.open_readonly(database_url)


def test_an_entrys_effect_commits_with_it_and_a_failing_one_stores_nothing(
    store: LedgerStore, decision: Callable[..., PendingEntry]
) -> None:
    """The record an entry logs (a registered warrant, say) is written in the entry's own
    transaction: a record that cannot be written takes the entry, and its batch, with it."""
    sa.Table("acts", sa.MetaData(), sa.Column("n", sa.Integer, primary_key=True)).create(
        store.engine
    )

    def record(conn: sa.Connection, index: int) -> None:
        conn.execute(sa.text("INSERT INTO acts (n) VALUES (:n)"), {"n": 7})

    (logged,) = store.append_batch([PendingEntry("warrant_registered", {"n": 7}, effect=record)])
    before = (store.size(), store.latest_checkpoint())
    # The same act again: its record conflicts (as when another process recorded it first).
    with pytest.raises(ActRecordedMeanwhile, match="warrant registered act first") as refused:
        store.append_batch(
            [decision(1), PendingEntry("warrant_registered", {"n": 7}, effect=record)]
        )
    assert (store.size(), store.latest_checkpoint()) == before
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM acts")).scalar_one() == 1
    assert logged.index == before[0] - 1
    assert refused.value.position == 1  # the entry at fault, not the innocent one before it
