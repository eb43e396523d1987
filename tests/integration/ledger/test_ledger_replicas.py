"""Several writers on one ledger: the sequencer lease (PostgreSQL), the one-writer claim
(SQLite), what a writer caches of the tree, and two replicas recording the same act."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import faults
import pytest
import sqlalchemy as sa

from alprfed import canonical
from alprfed.clock import FixedClock
from alprfed.errors import ActRecordedMeanwhile, ConfigError, LedgerError
from alprfed.ledger import schema
from alprfed.ledger.entry import AppendedEntry, Effect, PendingEntry, decode_entry
from alprfed.ledger.lease import lease_key
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.verify import verify_ledger
from alprfed.ledger.writer import LedgerWriter
from alprfed.policy.warrants import Warrant
from alprfed.signing import SigningKey
from gateway.registry import GatewayRegistry

ORIGIN = "ledger.alprfed.test/federation"


def _entry(name: str) -> PendingEntry:
    return PendingEntry("query_decision", {"query_id": name})


def _advisory_holders(store: LedgerStore) -> list[str]:
    """application_name of every session holding an advisory lock in this test's database."""
    with store.engine.connect() as conn:
        return list(
            conn.execute(
                sa.text(
                    "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a "
                    "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
                    "AND a.datname = current_database()"
                )
            ).scalars()
        )


@pytest.mark.postgres
def test_only_the_lease_holder_appends_and_the_next_one_reloads_the_tree(
    postgres_url: str, ledger_key: SigningKey, clock: FixedClock, verifier: NoteVerifier
) -> None:
    first = LedgerStore.open(postgres_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    second = LedgerStore.open(postgres_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        first.append_batch([_entry("a-0")], keep_lease=True)
        assert any(name.startswith("alprfed-sequencer") for name in _advisory_holders(first))
        appended: list[AppendedEntry] = []
        waiting = threading.Thread(
            target=lambda: appended.extend(second.append_batch([_entry("b-0")]))
        )
        waiting.start()
        waiting.join(timeout=1.0)
        assert waiting.is_alive()  # the second writer waits for the lease...
        assert second.size() == 1
        first.release_lease()
        waiting.join(timeout=30)
        assert [e.index for e in appended] == [1]  # ...and then builds on the first's entry
        # The first writer's cached tip is stale now; it must build on entry 1, not fork.
        first.append_batch([_entry("a-1")])
        assert verify_ledger(first, [verifier]).size == 3
        assert [decode_entry(d).body["query_id"] for d in first.entries(0, 3)] == [
            "a-0",
            "b-0",
            "a-1",
        ]
        assert _advisory_holders(first) == []  # nobody keeps the lease when idle
    finally:
        first.close()
        second.close()


def test_lease_keys_differ_per_schema_and_per_ledger() -> None:
    keys = {
        lease_key("test", "t_1", ORIGIN),
        lease_key("test", "t_2", ORIGIN),
        lease_key("test", "t_1", "other.example/log"),
        lease_key("prod", "t_1", ORIGIN),
    }
    assert len(keys) == 4
    assert all(-(2**63) <= key < 2**63 for key in keys)


def test_a_second_gateway_on_one_sqlite_ledger_is_refused(
    tmp_path: Path, ledger_key: SigningKey, clock: FixedClock
) -> None:
    url = f"sqlite:///{tmp_path / 'gateway.db'}"
    first = LedgerStore.open(url, origin=ORIGIN, signer=ledger_key, clock=clock, exclusive=True)
    try:
        first.append_batch([_entry("a")])
        with pytest.raises(ConfigError, match="database_url: another gateway already writes"):
            LedgerStore.open(url, origin=ORIGIN, signer=ledger_key, clock=clock, exclusive=True)
        assert first.size() == 1
    finally:
        first.close()
    # Once the first gateway is gone, another may write.
    again = LedgerStore.open(url, origin=ORIGIN, signer=ledger_key, clock=clock, exclusive=True)
    try:
        again.append_batch([_entry("b")])
        assert again.size() == 2
    finally:
        again.close()


def test_a_cached_tip_still_catches_a_stored_peak_overwritten_between_batches(
    store: LedgerStore,
) -> None:
    """The writer spares the signature check while the head is its own checkpoint, but still
    compares the stored peaks with what it derived (issue 16: tampered tree hashes)."""
    store.append_batch([_entry(f"q-{n}") for n in range(8)])  # one peak: entries 0 to 7
    with store.engine.begin() as conn:
        conn.execute(
            sa.update(schema.nodes)
            .where(schema.nodes.c.node == schema.node_key(3, 0))
            .values(hash=bytes(32))
        )
    with pytest.raises(LedgerError, match="damaged or tampered storage; nothing was appended"):
        store.append_batch([_entry("after-damage")])
    assert store.size() == 8


def test_an_act_another_replica_recorded_first_fails_only_its_own_caller(
    store: LedgerStore, verifier: NoteVerifier
) -> None:
    """Two gateways register one warrant at once: both checked the registry before either
    committed. The loser gets a named ALREADY_EXISTS error; the entries it shared a batch with
    are logged; the ledger holds the act once."""
    sa.Table("acts", sa.MetaData(), sa.Column("n", sa.Integer, primary_key=True)).create(
        store.engine
    )

    def record(conn: sa.Connection, index: int) -> None:
        conn.execute(sa.text("INSERT INTO acts (n) VALUES (7)"))

    async def run() -> list[object]:
        ledger = LedgerWriter(store)
        await ledger.append("warrant_registered", {"warrant_id": "w-7"}, effect=record)
        outcomes = await asyncio.gather(
            ledger.append("query_decision", {"query_id": "before"}),
            ledger.append("warrant_registered", {"warrant_id": "w-7"}, effect=record),
            ledger.append("query_decision", {"query_id": "after"}),
            return_exceptions=True,
        )
        await ledger.close()
        return list(outcomes)

    before, again, after = asyncio.run(run())
    assert isinstance(again, ActRecordedMeanwhile)
    assert "warrant registered" in str(again)
    assert isinstance(before, AppendedEntry)
    assert isinstance(after, AppendedEntry)
    kinds = [decode_entry(d).kind for d in store.entries(0, store.size())]
    assert kinds == ["warrant_registered", "query_decision", "query_decision"]
    assert verify_ledger(store, [verifier]).size == 3


def test_a_revocation_another_replica_made_first_drops_only_its_own_entry(
    store: LedgerStore,
    database_url: str,
    clock: FixedClock,
    verifier: NoteVerifier,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Issue 16, found by the replica soak: a clerk's revocation timed out on one replica and
    was sent again to another, both checked the warrant unrevoked, and the first committed.
    The second's effect found the row revoked and raised a plain FailedPrecondition, which
    failed its whole batch (a query decision sharing it too) with a logged traceback. Now only
    the revocation is dropped, named ActRecordedMeanwhile, and nothing is logged as a failure."""
    registry = GatewayRegistry.open(database_url)
    now = clock.now()
    envelope = faults.sign_warrant(SigningKey.generate(), now)
    warrant = Warrant.from_canonical(canonical.decode(envelope.payload))
    raced = warrant.warrant_id

    def revocation() -> Effect:
        return registry.warrant_revocation(
            raced, revoked_at=now, revoked_by="clerk-lee", reason="case closed"
        )

    async def run() -> list[object]:
        ledger = LedgerWriter(store)
        await ledger.append(
            "warrant_registered",
            {"warrant_id": raced},
            effect=registry.warrant_insert(
                warrant, envelope, registered_at=now, registered_by="clerk-lee"
            ),
        )
        await ledger.append("warrant_revoked", {"warrant_id": raced}, effect=revocation())
        outcomes = await asyncio.gather(
            ledger.append("query_decision", {"query_id": "before"}),
            ledger.append("warrant_revoked", {"warrant_id": raced}, effect=revocation()),
            ledger.append("query_decision", {"query_id": "after"}),
            return_exceptions=True,
        )
        await ledger.close()
        return list(outcomes)

    try:
        with caplog.at_level(logging.ERROR):
            before, again, after = asyncio.run(run())
        record = registry.get_warrant(raced)
    finally:
        registry.close()
    assert isinstance(again, ActRecordedMeanwhile)
    assert f"{raced} was revoked by another gateway meanwhile" in str(again)
    assert isinstance(before, AppendedEntry)
    assert isinstance(after, AppendedEntry)
    kinds = [decode_entry(d).kind for d in store.entries(0, store.size())]
    assert kinds == ["warrant_registered", "warrant_revoked", "query_decision", "query_decision"]
    assert record is not None
    assert record.revoked_at == now
    assert verify_ledger(store, [verifier]).size == 4
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
