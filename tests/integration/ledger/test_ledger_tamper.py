"""Tampering with a real ledger database is caught by verification, which names the entry.

Each attack edits the tables the way someone with database access would, then verifies from
nothing but the database and the verifier key. The log holds 16 entries in batches of 3, 4, 5
and 4 (checkpoints at sizes 0, 3, 7, 12 and 16).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa

from alprfed.cli.exit_codes import ExitCode
from alprfed.clock import FixedClock
from alprfed.db import writer
from alprfed.errors import LedgerError, LedgerVerificationError
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import read_checkpoint, sign_checkpoint
from alprfed.ledger.entry import PendingEntry, encode_entry
from alprfed.ledger.merkle import leaf_hash
from alprfed.ledger.note import NoteSigner, NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.verify import verify_ledger
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
BATCHES = [3, 4, 5, 4]
Fill = Callable[[LedgerStore, list[int]], None]


@pytest.fixture
def log(store: LedgerStore, fill: Fill) -> LedgerStore:
    fill(store, BATCHES)
    return store


def _data(store: LedgerStore, index: int) -> bytes:
    return store.entries(index, index + 1)[0]


def _set_data(store: LedgerStore, index: int, data: bytes) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(
            sa.update(schema.entries).where(schema.entries.c.idx == index).values(data=data)
        )


def _forged(store: LedgerStore, index: int, prev_index: int) -> bytes:
    """An entry a forger builds well: right index, right prev, canonical bytes."""
    return encode_entry(
        index=index,
        prev=leaf_hash(_data(store, prev_index)),
        time=1,
        kind="warrant_registered",
        body={"warrant_id": "forged"},
        commitments=[],
    )


def change_a_byte_inside_the_body(store: LedgerStore) -> None:
    _set_data(store, 5, _data(store, 5).replace(b'"q-5"', b'"q-6"'))


def change_a_byte_breaking_the_json(store: LedgerStore) -> None:
    data = bytearray(_data(store, 5))
    data[0] = ord("[")
    _set_data(store, 5, bytes(data))


def delete_one_entry(store: LedgerStore) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(sa.delete(schema.entries).where(schema.entries.c.idx == 5))


def swap_two_entries(store: LedgerStore) -> None:
    fifth, ninth = _data(store, 5), _data(store, 9)
    _set_data(store, 5, ninth)
    _set_data(store, 9, fifth)


def insert_a_forged_entry_in_the_middle(store: LedgerStore) -> None:
    forged = _forged(store, 5, prev_index=4)
    with writer(store.engine).begin() as conn:
        shift = schema.entries.c.idx
        conn.execute(sa.update(schema.entries).where(shift >= 5).values(idx=shift + 1000))
        conn.execute(sa.update(schema.entries).where(shift >= 1000).values(idx=shift - 999))
        conn.execute(schema.entries.insert().values(idx=5, data=forged))


def append_a_forged_entry(store: LedgerStore) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(schema.entries.insert().values(idx=16, data=_forged(store, 16, 15)))


def remove_the_newest_entries(store: LedgerStore) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(sa.delete(schema.entries).where(schema.entries.c.idx >= 12))


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (change_a_byte_inside_the_body, 5),
        (change_a_byte_breaking_the_json, 5),
        (delete_one_entry, 5),
        (swap_two_entries, 5),
        (insert_a_forged_entry_in_the_middle, 5),
        (append_a_forged_entry, 16),
        (remove_the_newest_entries, 12),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_tampering_is_caught_and_the_first_bad_entry_named(
    log: LedgerStore,
    verifier: NoteVerifier,
    tamper: Callable[[LedgerStore], None],
    first_bad: int,
) -> None:
    assert verify_ledger(log, [verifier]).size == 16
    tamper(log)
    with pytest.raises(LedgerVerificationError) as caught:
        verify_ledger(log, [verifier])
    assert caught.value.index == first_bad, str(caught.value)
    assert str(caught.value).startswith(f"entry {first_bad}: ")


def test_a_checkpoint_not_signed_by_the_log_key_is_caught(
    log: LedgerStore, verifier: NoteVerifier
) -> None:
    real = read_checkpoint(log.checkpoints(7, 7)[0])
    forged = sign_checkpoint(real, NoteSigner(ORIGIN, SigningKey.generate()))
    with writer(log.engine).begin() as conn:
        conn.execute(
            sa.update(schema.checkpoints).where(schema.checkpoints.c.size == 7).values(note=forged)
        )
    with pytest.raises(LedgerVerificationError, match="checkpoint of size 7 does not verify"):
        verify_ledger(log, [verifier])


def _last_leaf(level: int, index: int) -> int:
    return ((index + 1) << level) - 1


def _roll_back_coherently(store: LedgerStore, size: int) -> None:
    """What restoring an old backup does: every table back at ``size``, all consistent."""
    note = store.checkpoints(size, size)[0]
    with writer(store.engine).begin() as conn:
        keys = conn.execute(sa.select(schema.nodes.c.node)).scalars().all()
        newer = [key for key in keys if _last_leaf(*schema.node_of_key(key)) >= size]
        conn.execute(sa.delete(schema.entries).where(schema.entries.c.idx >= size))
        conn.execute(sa.delete(schema.nodes).where(schema.nodes.c.node.in_(newer)))
        conn.execute(sa.delete(schema.checkpoints).where(schema.checkpoints.c.size > size))
        conn.execute(sa.update(schema.head).values(size=size, checkpoint=note))
        conn.execute(sa.update(schema.publication).values(size=size))


def test_a_rolled_back_log_is_caught_by_the_monitor_state(
    log: LedgerStore, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state = tmp_path / "monitor.json"
    assert verify_ledger(log, [verifier], state_file=state).size == 16
    remembered = state.read_text()
    _roll_back_coherently(log, 12)
    assert verify_ledger(log, [verifier]).size == 12  # alone, a restored backup looks fine
    with pytest.raises(LedgerVerificationError) as caught:
        verify_ledger(log, [verifier], state_file=state)
    assert caught.value.index == 12
    assert "rolled back" in str(caught.value)
    assert state.read_text() == remembered  # nothing is trusted that did not verify


def test_a_history_rewritten_by_the_key_holder_is_caught(
    tmp_path: Path,
    ledger_key: SigningKey,
    clock: FixedClock,
    verifier: NoteVerifier,
    fill: Fill,
) -> None:
    """A log operator rebuilds the log with its own key: every signature checks, the state
    file shows the tree is not the one it accepted, and where it starts to differ."""
    state = tmp_path / "monitor.json"
    honest = LedgerStore.open(
        f"sqlite:///{tmp_path / 'honest.db'}", origin=ORIGIN, signer=ledger_key, clock=clock
    )
    fill(honest, [8, 5])
    verify_ledger(honest, [verifier], state_file=state)
    rewritten = LedgerStore.open(
        f"sqlite:///{tmp_path / 'rewritten.db'}", origin=ORIGIN, signer=ledger_key, clock=clock
    )
    fill(rewritten, [8])  # the same first eight entries, byte for byte
    rewritten.append_batch(
        [PendingEntry("warrant_registered", {"warrant_id": f"w-{i}"}) for i in range(6)]
    )
    try:
        assert verify_ledger(rewritten, [verifier]).size == 14
        with pytest.raises(LedgerVerificationError, match="rewritten") as caught:
            verify_ledger(rewritten, [verifier], state_file=state)
        assert caught.value.index == 8  # the subtree of entries 8 to 11 differs first
    finally:
        honest.close()
        rewritten.close()


def test_the_monitor_state_advances_with_a_growing_log(
    log: LedgerStore, verifier: NoteVerifier, fill: Fill, tmp_path: Path
) -> None:
    state = tmp_path / "monitor.json"
    assert verify_ledger(log, [verifier], state_file=state).previous_size is None
    fill(log, [5])
    report = verify_ledger(log, [verifier], state_file=state)
    assert (report.previous_size, report.size) == (16, 21)
    assert verify_ledger(log, [verifier], state_file=state).previous_size == 21


def test_rewriting_the_stored_subtrees_too_is_caught_within_the_batch(
    log: LedgerStore, verifier: NoteVerifier
) -> None:
    """A thorough tamperer also rewrites the subtree hash that proofs are built from. The
    change is still caught; the proofs it poisoned can only make the verifier name an earlier
    entry of the same batch (the first it cannot prove), never a later one."""
    change_a_byte_inside_the_body(log)
    with writer(log.engine).begin() as conn:
        conn.execute(
            sa.update(schema.nodes)
            .where(schema.nodes.c.node == schema.node_key(0, 5))
            .values(hash=leaf_hash(_data(log, 5)))
        )
    with pytest.raises(LedgerVerificationError) as caught:
        verify_ledger(log, [verifier])
    assert caught.value.index is not None
    assert 3 <= caught.value.index <= 5  # entries 3..6 are the batch of checkpoint 7


@pytest.mark.slow
def test_entry_checks_in_worker_processes_name_the_same_entry(
    sqlite_url: str,
    ledger_key: SigningKey,
    clock: FixedClock,
    verifier: NoteVerifier,
    fill: Fill,
) -> None:
    """Large logs check entries in worker processes; the verdict must not depend on it."""
    store = LedgerStore.open(sqlite_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        fill(store, BATCHES)
        assert verify_ledger(store, [verifier], workers=2, page_size=3).size == 16
        swap_two_entries(store)
        change_a_byte_breaking_the_json(store)  # entry 5 is now also not JSON
        with pytest.raises(LedgerVerificationError) as caught:
            verify_ledger(store, [verifier], workers=2, page_size=3)
        assert caught.value.index == 5, str(caught.value)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (change_a_byte_inside_the_body, 5),
        (delete_one_entry, 5),
        (swap_two_entries, 5),
        (insert_a_forged_entry_in_the_middle, 5),
        (remove_the_newest_entries, 12),
    ],
    ids=lambda value: getattr(value, "__name__", str(value)),
)
def test_ledger_audit_refuses_to_replay_a_tampered_ledger(
    log: LedgerStore,
    verifier: NoteVerifier,
    database_url: str,
    tmp_path: Path,
    tamper: Callable[[LedgerStore], None],
    first_bad: int,
) -> None:
    """`alprfed ledger audit` verifies before it replays: each tampering fails it, named."""
    from click.testing import CliRunner

    from alprfed.cli.main import cli

    state = tmp_path / "monitor.json"
    runner = CliRunner()
    args = [
        "ledger",
        "--database",
        database_url,
        "verify",
        "--key",
        verifier.to_vkey(),
        "--state",
        str(state),
    ]
    assert runner.invoke(cli, args).exit_code == 0  # the monitor has seen the honest log
    tamper(log)
    result = runner.invoke(
        cli,
        [
            "ledger",
            "--database",
            database_url,
            "audit",
            "--key",
            verifier.to_vkey(),
            "--state",
            str(state),
        ],
    )
    assert result.exit_code == ExitCode.NOT_VERIFIED, result.output
    assert f"entry {first_bad}" in result.output


def _overwrite_node(store: LedgerStore, level: int, index: int) -> None:
    with writer(store.engine).begin() as conn:
        updated = conn.execute(
            sa.update(schema.nodes)
            .where(schema.nodes.c.node == schema.node_key(level, index))
            .values(hash=bytes(32))
        ).rowcount
    assert updated == 1


@pytest.mark.parametrize(
    ("level", "index"),
    [(4, 0), (0, 15)],
    ids=["the_peak_the_writer_extends", "the_last_leaf_the_next_entry_chains_to"],
)
def test_a_writer_never_extends_a_damaged_stored_tree(
    log: LedgerStore, verifier: NoteVerifier, level: int, index: int
) -> None:
    _overwrite_node(log, level, index)
    before = (log.size(), log.head_checkpoint())
    with pytest.raises(LedgerError, match="damaged or tampered storage; nothing was appended"):
        log.append_batch([PendingEntry("query_decision", {"query_id": "after-damage"})])
    assert (log.size(), log.head_checkpoint()) == before
    with pytest.raises(LedgerVerificationError, match="stored hash of the subtree") as caught:
        verify_ledger(log, [verifier])
    assert caught.value.index == index << level


def test_a_damaged_interior_subtree_hash_is_reported_by_verify(
    log: LedgerStore, verifier: NoteVerifier
) -> None:
    """A node the writer does not extend from (entries 4 to 7) but proofs are built from: the
    log keeps appending correct roots, and verification names the subtree's first entry."""
    _overwrite_node(log, 2, 1)
    log.append_batch([PendingEntry("query_decision", {"query_id": "after-damage"})])
    with pytest.raises(
        LedgerVerificationError, match=re.escape("entries 4 to 7 (level 2) is not the hash")
    ):
        verify_ledger(log, [verifier])


def test_a_missing_subtree_hash_is_reported_by_verify(
    log: LedgerStore, verifier: NoteVerifier
) -> None:
    with writer(log.engine).begin() as conn:
        conn.execute(sa.delete(schema.nodes).where(schema.nodes.c.node == schema.node_key(1, 3)))
    with pytest.raises(
        LedgerVerificationError, match=re.escape("entries 6 to 7 (level 1) is missing")
    ):
        verify_ledger(log, [verifier])
