"""Group commit: concurrent asyncio callers share transactions and each gets its own entry."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from alprfed.clock import FixedClock
from alprfed.db import writer as write_engine
from alprfed.errors import ConfigError, InvalidRequest, LedgerError
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.entry import AppendedEntry, decode_entry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.tip import read_tip
from alprfed.ledger.verify import verify_ledger
from alprfed.ledger.writer import LedgerWriter
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
CALLERS = 300


def test_concurrent_callers_share_batches_and_each_gets_its_own_entry(
    store: LedgerStore, verifier: NoteVerifier
) -> None:
    async def run() -> list[AppendedEntry]:
        ledger = LedgerWriter(store, max_batch=64)
        results = await asyncio.gather(
            *(
                ledger.append("query_decision", {"query_id": f"q-{n}"}, plates=("7ABC123",))
                for n in range(CALLERS)
            )
        )
        await ledger.close()
        return list(results)

    appended = asyncio.run(run())
    assert sorted(e.index for e in appended) == list(range(CALLERS))
    for n, entry in enumerate(appended):
        view = decode_entry(entry.data)
        assert view.body == {"query_id": f"q-{n}"}
        assert store.match_commitment(view.index, "7ABC123") == 0
        covering = open_checkpoint(entry.checkpoint, [verifier], origin=ORIGIN)
        assert covering.size > view.index
    checkpoints = store.checkpoints()
    assert 1 + CALLERS // 64 < len(checkpoints) < CALLERS  # batched, never above max_batch
    assert verify_ledger(store, [verifier]).size == CALLERS


def test_a_bad_entry_fails_only_its_own_caller(store: LedgerStore) -> None:
    async def run() -> list[object]:
        ledger = LedgerWriter(store)
        outcomes = await asyncio.gather(
            ledger.append("query_decision", {"query_id": "good-1"}),
            ledger.append("query_decision", {"plate": "7ABC123"}),
            ledger.append("no_such_kind", {}),
            ledger.append("query_decision", {"query_id": "good-2"}),
            return_exceptions=True,
        )
        await ledger.close()
        return list(outcomes)

    good_1, plate_in_clear, unknown_kind, good_2 = asyncio.run(run())
    assert isinstance(plate_in_clear, InvalidRequest)
    assert isinstance(unknown_kind, InvalidRequest)
    assert isinstance(good_1, AppendedEntry)
    assert isinstance(good_2, AppendedEntry)
    assert decode_entry(good_1.data).body == {"query_id": "good-1"}
    assert decode_entry(good_2.data).body == {"query_id": "good-2"}
    assert store.size() == 2


def test_a_batch_failing_in_storage_fails_every_caller_and_stores_nothing(
    store: LedgerStore,
) -> None:
    async def run() -> list[object]:
        ledger = LedgerWriter(store)
        await ledger.append("query_decision", {"query_id": "before"})
        with write_engine(store.engine).begin() as conn:  # the subtree table disappears
            conn.execute(sa.text(f"DROP TABLE {schema.nodes.name}"))
        outcomes = await asyncio.gather(
            *(ledger.append("query_decision", {"query_id": f"q-{n}"}) for n in range(5)),
            return_exceptions=True,
        )
        await ledger.close()
        return list(outcomes)

    outcomes = asyncio.run(run())
    assert all(isinstance(o, LedgerError) for o in outcomes), outcomes
    assert "not stored" in str(outcomes[0])
    assert store.size() == 1
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schema.entries)).scalar() == 1


def test_close_commits_what_is_queued_and_then_refuses(store: LedgerStore) -> None:
    async def run() -> None:
        ledger = LedgerWriter(store)
        queued = [asyncio.create_task(ledger.append("query_decision", {"n": n})) for n in range(10)]
        await asyncio.sleep(0)  # let every task enqueue its entry
        await ledger.close()
        assert all(task.done() and not task.exception() for task in queued)
        with pytest.raises(LedgerError, match="closed"):
            await ledger.append("query_decision", {"n": 10})

    asyncio.run(run())
    assert store.size() == 10


def test_appends_never_block_the_event_loop(
    sqlite_url: str, ledger_key: SigningKey, clock: FixedClock
) -> None:
    """Another writer holds the database's write lock; only a task on the event loop releases
    it. The append can therefore finish only if it waits off the loop, in a worker thread."""
    store = LedgerStore.open(sqlite_url, origin=ORIGIN, signer=ledger_key, clock=clock)

    async def run() -> int:
        ledger = LedgerWriter(store)
        other = write_engine(store.engine).connect()
        transaction = other.begin()
        read_tip(other)  # BEGIN IMMEDIATE: the write lock is held from here
        appending = asyncio.create_task(ledger.append("query_decision", {"n": 1}))

        async def release() -> None:
            await asyncio.sleep(0)
            transaction.rollback()
            other.close()

        await asyncio.gather(release(), appending)
        await ledger.close()
        return appending.result().index

    try:
        assert asyncio.run(run()) == 0
    finally:
        store.close()


def test_max_batch_is_bounded(store: LedgerStore) -> None:
    with pytest.raises(ConfigError, match="max_batch"):
        LedgerWriter(store, max_batch=0)
