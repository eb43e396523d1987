"""Verifying a ledger database in chunks, in worker processes, against the sequential walk.

Chunks here are 4 or 8 entries (the real ones are 65,536), so a small ledger with batches of
every shape crosses many chunk borders, checkpoints land anywhere inside chunks, and subtrees
above chunk level exist. The chunked verifier must rebuild exactly the tree the walk rebuilds,
and must find nothing sound in a ledger the walk rejects.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import sqlalchemy as sa
from integration.ledger.test_ledger_tamper import (
    _forged,
    change_a_byte_inside_the_body,
    delete_one_entry,
    insert_a_forged_entry_in_the_middle,
)

from alprfed.clock import FixedClock
from alprfed.db import writer
from alprfed.ledger import replay as replay_module
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.chunked_verify import ChunkedTree, verify_in_chunks
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.replay import replay
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.verify import verify_ledger
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
BATCHES = [1, 3, 7, 4, 16, 5, 9, 2, 13]  # 60 entries, 10 checkpoints with the empty one
Fill = Callable[[LedgerStore, list[int]], None]


def _chunked(
    store: LedgerStore, verifier: NoteVerifier, level: int, remember: int | None = None
) -> ChunkedTree | None:
    checkpoints = [open_checkpoint(n, [verifier], origin=ORIGIN) for n in store.checkpoints()]
    return verify_in_chunks(
        store.engine.url.render_as_string(hide_password=False),
        checkpoints,
        end=checkpoints[-1].size,
        remember_size=remember,
        workers=2,
        source=store,
        chunk_level=level,
    )


@pytest.mark.parametrize(("level", "remember"), [(2, 17), (3, 60)])
def test_the_chunked_tree_is_the_tree_the_walk_rebuilds(
    store: LedgerStore,
    verifier: NoteVerifier,
    fill: Fill,
    level: int,
    remember: int | None,
) -> None:
    fill(store, BATCHES)
    walked = replay(store, [verifier], origin=ORIGIN, remember_size=remember, workers=1)
    chunked = _chunked(store, verifier, level, remember)
    assert chunked is not None
    assert chunked.final_peaks == walked.final_peaks
    assert chunked.remembered_peaks == walked.remembered_peaks


def _overwrite_interior_node(store: LedgerStore) -> None:
    """Entries 32 to 39 (level 3): above a 4-entry chunk, so the verifier's own process must
    catch it, not a worker."""
    with writer(store.engine).begin() as conn:
        conn.execute(
            sa.update(schema.nodes)
            .where(schema.nodes.c.node == schema.node_key(3, 4))
            .values(hash=bytes(32))
        )


def _append_a_forged_entry(store: LedgerStore) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(schema.entries.insert().values(idx=60, data=_forged(store, 60, 59)))


def _delete_a_leaf_node(store: LedgerStore) -> None:
    with writer(store.engine).begin() as conn:
        conn.execute(sa.delete(schema.nodes).where(schema.nodes.c.node == schema.node_key(0, 41)))


@pytest.mark.parametrize(
    "tamper",
    [
        change_a_byte_inside_the_body,
        delete_one_entry,
        insert_a_forged_entry_in_the_middle,
        _overwrite_interior_node,
        _delete_a_leaf_node,
    ],
    ids=lambda tamper: tamper.__name__.strip("_"),
)
def test_a_tampered_ledger_is_never_sound_in_chunks(
    sqlite_url: str,
    ledger_key: SigningKey,
    clock: FixedClock,
    verifier: NoteVerifier,
    fill: Fill,
    tamper: Callable[[LedgerStore], None],
) -> None:
    """On SQLite only: the reads are the same code on both databases (the happy path above
    runs on both), and every case spawns worker processes."""
    store = LedgerStore.open(sqlite_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        fill(store, BATCHES)
        tamper(store)
        assert _chunked(store, verifier, level=2) is None
    finally:
        store.close()


def test_verify_ledger_takes_the_chunked_path_and_reports_the_same(
    store: LedgerStore, verifier: NoteVerifier, fill: Fill, monkeypatch: pytest.MonkeyPatch
) -> None:
    fill(store, BATCHES)
    sequential = verify_ledger(store, [verifier], workers=1)
    calls: list[int] = []

    def recording(*args: object, **kwargs: object) -> ChunkedTree | None:
        result = verify_in_chunks(*args, **kwargs)  # type: ignore[arg-type]
        calls.append(0 if result is None else 1)
        return result

    monkeypatch.setattr(replay_module, "CHUNKED_MIN_ENTRIES", 1)
    monkeypatch.setattr(replay_module, "verify_in_chunks", recording)
    chunked = verify_ledger(store, [verifier], workers=2)
    assert calls == [1]
    assert (chunked.size, chunked.checkpoints_checked) == (60, 10)
    assert (chunked.checkpoint, chunked.checkpoint_note) == (
        sequential.checkpoint,
        sequential.checkpoint_note,
    )
    # A finding hands over to the walk, which names it: here an entry no checkpoint covers,
    # which the chunks (all sound) leave to the checks after them.
    _append_a_forged_entry(store)
    with pytest.raises(replay_module.LedgerVerificationError, match="beyond the newest") as caught:
        verify_ledger(store, [verifier], workers=2)
    assert caught.value.index == 60
    assert calls == [1, 1]
