"""The tip of the committed tree, read for a writer to extend, and checked against what the
log signed before anything is built on it."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from alprfed.errors import LedgerError
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import open_checkpoint, read_checkpoint
from alprfed.ledger.entry import GENESIS_PREV
from alprfed.ledger.merkle import CompactRange, leaf_hash, peaks
from alprfed.ledger.note import NoteError, NoteVerifier
from alprfed.ledger.reader import fetch_nodes


@dataclass(frozen=True)
class TreeTip:
    """What a writer must know of the committed tree to extend it."""

    size: int
    peak_hashes: list[bytes]
    last_leaf: bytes  # the leaf hash the next entry's ``prev`` names


@dataclass(frozen=True)
class SignedTip:
    """A tip this writer derived from the entries itself, and the checkpoint it signed of it."""

    tip: TreeTip
    note: str


def read_tip(
    conn: sa.Connection, verifier: NoteVerifier | None = None, known: SignedTip | None = None
) -> TreeTip:
    """The committed tree's size, peaks and last leaf, locking the head row where the database
    can (PostgreSQL); SQLite writers already hold the write lock.

    The stored subtrees are derived data, and a writer extending from a damaged one would sign
    a root its entries do not make; so the peaks must fold to the root of the head checkpoint
    (whose signature is checked when ``verifier`` is given) and the last leaf must be the hash
    of the last entry. Nothing is trusted that the log did not sign.

    Raises:
        LedgerError: the head or a subtree it needs is missing or does not match what the
            log signed (damaged or tampered storage).
    """
    head = conn.execute(
        sa.select(schema.head.c.size, schema.head.c.checkpoint)
        .where(schema.head.c.id == schema.HEAD_ROW)
        .with_for_update()
    ).first()
    if head is None:
        raise LedgerError("the ledger head is missing: damaged storage")
    size = int(head.size)
    wanted = peaks(size) + ([(0, size - 1)] if size else [])
    hashes = fetch_nodes(conn, wanted)
    if len(hashes) != len(set(wanted)):
        raise LedgerError(
            f"subtrees of the tree of size {size} are missing: damaged storage; "
            "run `alprfed ledger verify`"
        )
    tip = TreeTip(
        size,
        [hashes[node] for node in peaks(size)],
        hashes[(0, size - 1)] if size else GENESIS_PREV,
    )
    if known is not None and str(head.checkpoint) == known.note:
        if tip != known.tip:
            raise LedgerError(
                f"the stored subtrees of the tree of size {size} differ from those this "
                "gateway wrote: damaged or tampered storage; nothing was appended; run "
                "`alprfed ledger verify`"
            )
        _check_last_entry(conn, tip)
        return tip
    _check_tip(conn, tip, str(head.checkpoint), verifier)
    return tip


def _check_tip(conn: sa.Connection, tip: TreeTip, note: str, verifier: NoteVerifier | None) -> None:
    try:
        signed = (
            read_checkpoint(note)
            if verifier is None
            else open_checkpoint(note, [verifier], origin=verifier.name)
        )
    except NoteError as exc:
        raise LedgerError(
            f"the ledger head's checkpoint does not verify ({exc.detail}): damaged or tampered "
            "storage; run `alprfed ledger verify`"
        ) from None
    if signed.size != tip.size or CompactRange(tip.size, tip.peak_hashes).root() != signed.root:
        raise LedgerError(
            f"the stored subtrees of the tree of size {tip.size} do not make the root the log "
            "signed: damaged or tampered storage; nothing was appended; run `alprfed ledger "
            "verify`"
        )
    _check_last_entry(conn, tip)


def _check_last_entry(conn: sa.Connection, tip: TreeTip) -> None:
    if tip.size:
        last = conn.execute(
            sa.select(schema.entries.c.data).where(schema.entries.c.idx == tip.size - 1)
        ).scalar_one_or_none()
        if last is None or leaf_hash(bytes(last)) != tip.last_leaf:
            raise LedgerError(
                f"the stored leaf hash of entry {tip.size - 1} is not the hash of that entry: "
                "damaged or tampered storage; nothing was appended; run `alprfed ledger verify`"
            )
