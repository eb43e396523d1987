"""Ledger entries as the gateway writes them, and big ledgers built once and reused.

``decision_body`` is shaped like the gateway's ``query_decision`` entry for a warranted query
to TARGETS agencies (about 1.7 KB of canonical JSON, one plate commitment), the entry the
ledger holds most of. ``cached_ledger`` keeps ``ledger-<size>.db`` in the cache directory with
its origin and verifier key; the signing key that built it is thrown away, since only the
verifier key is needed to verify or prove anything in it.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alprfed.clock import SYSTEM_CLOCK
from alprfed.errors import LedgerError
from alprfed.ledger import LedgerReader, LedgerStore, NoteVerifier, PendingEntry
from alprfed.ledger import schema as ledger_schema
from alprfed.ledger.store import MAX_BATCH_ENTRIES
from alprfed.signing import SigningKey
from bench.environment import cached_build, schema_fingerprint, sqlite_url

CACHE_VERSION = 1  # bump when the entries or the ledger schema change
ORIGIN = "bench.alprfed.example/ledger"
TARGETS = 8
PLATE_CHARS = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
PROGRESS_EVERY_BATCHES = 10
DISTINCT_BODIES_MAX = 1_000_000  # ledgers up to this size draw every body anew
DISTINCT_BODIES = 100_000  # bodies a larger ledger cycles through


def decision_body(rng: random.Random, now: int) -> dict[str, Any]:
    agencies = [f"bench-ca-{n:02d}" for n in range(1, TARGETS + 1)]
    return {
        "query_id": f"{rng.getrandbits(128):032x}",
        "requester": {"agency": "sjpd", "officer": "officer-garcia", "kind": "person"},
        "purpose": "robbery",
        "purpose_note": "",
        "case_number": f"SJ-2026-{rng.randrange(10_000):04d}",
        "window": [now - 3 * 86_400, now],
        "authority": "warrant",
        "warrant_id": f"w-{rng.getrandbits(40):010x}",
        "warrant_entry": rng.randrange(1_000),
        "warrant_plate_slot": 0,
        "exigent_approval_id": None,
        "exigent_entry": None,
        "exigent_plate_slot": None,
        "targets": agencies,
        "decisions": [
            {
                "agency": agency,
                "allowed": True,
                "refused_by": [],
                "rules_applied": ["casbin:query.create", "warrant.checked", "CA-1798-90-55"],
            }
            for agency in agencies
        ],
        "policy_bundle": f"{rng.getrandbits(256):064x}",
        "decided_at": now,
    }


def plate(rng: random.Random) -> str:
    return "".join(rng.choice(PLATE_CHARS) for _ in range(7))


def pending_entry(rng: random.Random, now: int) -> PendingEntry:
    return PendingEntry("query_decision", decision_body(rng, now), (plate(rng),))


@dataclass(frozen=True)
class CachedLedger:
    size: int
    origin: str
    vkey: str  # the C2SP verifier key of the log

    def verifier(self) -> NoteVerifier:
        return NoteVerifier.from_vkey(self.vkey)


def _size_of(url: str) -> int | None:
    try:
        reader = LedgerReader.open_readonly(url)
    except LedgerError:
        return None  # not a ledger this code can read: rebuild it
    try:
        return reader.size()
    finally:
        reader.close()


def build_ledger(url: str, size: int, *, seed: int, log: Callable[[str], None]) -> CachedLedger:
    """Append ``size`` entries to a new ledger at ``url`` in batches of MAX_BATCH_ENTRIES.

    Up to DISTINCT_BODIES_MAX entries every body is drawn anew; a larger ledger (the 10 million
    one) cycles through DISTINCT_BODIES of them, which spares most of its build time (drawing
    and validating a body costs more than appending it) and changes nothing a verifier does:
    each entry still has its own index, chain hash and salted commitment.
    """
    key = SigningKey.generate()
    rng = random.Random(f"{seed}:ledger:{size}")
    store = LedgerStore.open(url, origin=ORIGIN, signer=key, clock=SYSTEM_CLOCK)
    started = time.perf_counter()
    try:
        now = SYSTEM_CLOCK.now()
        pool = (
            [pending_entry(rng, now) for _ in range(DISTINCT_BODIES)]
            if size > DISTINCT_BODIES_MAX
            else None
        )
        for start in range(0, size, MAX_BATCH_ENTRIES):
            count = min(MAX_BATCH_ENTRIES, size - start)
            store.append_batch(
                [pending_entry(rng, now) for _ in range(count)]
                if pool is None
                else [pool[(start + n) % DISTINCT_BODIES] for n in range(count)]
            )
            done = start + count
            if (start // MAX_BATCH_ENTRIES) % PROGRESS_EVERY_BATCHES == 0 or done == size:
                log(f"  {done:,} of {size:,} entries ({time.perf_counter() - started:.0f} s)")
    finally:
        store.close()
    return CachedLedger(size, ORIGIN, NoteVerifier.for_key(ORIGIN, key.public).to_vkey())


def cached_ledger(
    cache_dir: Path, size: int, *, seed: int, log: Callable[[str], None]
) -> tuple[str, CachedLedger]:
    """The cached SQLite ledger of ``size`` entries (its URL), built first if needed."""
    path = cache_dir / f"ledger-{size}.db"
    url = sqlite_url(path)

    def build() -> dict[str, Any]:
        log(f"building a ledger of {size:,} entries (cached for later runs)")
        ledger = build_ledger(url, size, seed=seed, log=log)
        return {"origin": ledger.origin, "vkey": ledger.vkey}

    identity = {
        "version": CACHE_VERSION,
        "schema": schema_fingerprint(ledger_schema.metadata),
        "seed": seed,
        "size": size,
    }
    meta = cached_build(path, identity, still_valid=lambda: _size_of(url) == size, build=build)
    return url, CachedLedger(size, meta["origin"], meta["vkey"])
