"""The audit ledger: an append-only transparency log that oversight bodies verify on their own.

An RFC 6962 / RFC 9162 Merkle tree of canonical JSON entries, each chained to the one before,
with one C2SP signed checkpoint per appended batch, inclusion and consistency proofs, offline
tlog-proof receipts and salted plate commitments whose openings can be purged. docs/LEDGER.md
specifies every byte for third parties.

Modules, from the bottom up::

    merkle       hashing, incremental tree, which subtrees make up a proof      (pure)
    proof        RFC 9162 inclusion and consistency verification                 (pure)
    note         C2SP signed notes and vkeys                                     (pure)
    checkpoint   C2SP checkpoints                                                (pure)
    entry_rules  what an entry may hold: kinds, size limits, no plate keys       (pure)
    entry_fast   the fast proof that entry bytes are a canonical entry           (pure)
    entry        canonical entry bytes and their decoding, plate commitments     (pure)
    tlog_proof   C2SP tlog-proof receipts                                        (pure)
    schema       the SQL tables and their migrations
    reader       reads, proofs, receipts, openings from the database
    store        LedgerStore: atomic batch appends, compare-and-swap head
    writer       LedgerWriter: group commit for asyncio callers
    source       the LedgerSource protocol, entry iteration by kind
    remote       a LedgerSource over gRPC (auditors reading a gateway)
    entry_checks per-entry checks of a verification, in worker processes for large logs
    replay       recompute every entry and check every checkpoint
    monitor      the verifier's state file
    verify       verify_ledger: the whole check, as an oversight body runs it
    tiles        C2SP tlog-tiles paths, tile sets, entry bundles                 (pure)
    tile_source  tile and bundle bytes of the published tree, from the database
    tile_export  the log as a static tlog-tiles directory (docs/TILES.md)
"""

from __future__ import annotations

from alprfed.ledger.checkpoint import Checkpoint, open_checkpoint, sign_checkpoint
from alprfed.ledger.entry import (
    AppendedEntry,
    EntryKind,
    LedgerEntryView,
    PendingEntry,
    decode_entry,
)
from alprfed.ledger.merkle import leaf_hash, node_hash
from alprfed.ledger.note import NoteSigner, NoteVerifier, open_note, sign_note
from alprfed.ledger.proof import verify_consistency, verify_inclusion
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.source import LedgerSource, build_tlog_proof, iter_entries
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.tlog_proof import TlogProof, VerifiedReceipt, verify_tlog_proof
from alprfed.ledger.verify import VerificationReport, verify_ledger
from alprfed.ledger.writer import LedgerWriter

__all__ = [
    "AppendedEntry",
    "Checkpoint",
    "EntryKind",
    "LedgerEntryView",
    "LedgerReader",
    "LedgerSource",
    "LedgerStore",
    "LedgerWriter",
    "NoteSigner",
    "NoteVerifier",
    "PendingEntry",
    "TlogProof",
    "VerificationReport",
    "VerifiedReceipt",
    "build_tlog_proof",
    "decode_entry",
    "iter_entries",
    "leaf_hash",
    "node_hash",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
    "verify_consistency",
    "verify_inclusion",
    "verify_ledger",
    "verify_tlog_proof",
]
