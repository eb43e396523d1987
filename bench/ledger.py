"""Part 5, the audit ledger: durable appends, proofs, and a whole verification.

- Appends: ``LedgerWriter`` (group commit) over a fresh ledger, with N coroutines appending
  gateway-shaped ``query_decision`` entries at once; every commit is durable (SQLite
  synchronous=FULL, PostgreSQL's synchronous commit). Floor: the same number of entry-sized
  rows inserted into a plain table in transactions of the batch size the writer can reach
  (min(N, its maximum batch)), equally durable: what the database alone allows.
- Proofs: inclusion and consistency proofs from ``LedgerReader`` on cached ledgers of growing
  size (``bench.ledger_data``). Floor: fetching the same subtree hashes in one query on an
  open connection. A sample of inclusion proofs is verified against the signed checkpoint.
- Verify: the real ``alprfed ledger verify`` command in a child process, timed from launch to
  exit. Floor: reading every entry and hashing it once, the least any verifier does.
"""

from __future__ import annotations

import asyncio
import os
import random
import resource
import subprocess
import time
from dataclasses import dataclass

import sqlalchemy as sa

from alprfed.clock import SYSTEM_CLOCK
from alprfed.db import create_engine, writer
from alprfed.ledger import LedgerReader, LedgerStore, LedgerWriter, leaf_hash, verify_inclusion
from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.merkle import consistency_plan, inclusion_plan, plan_nodes
from alprfed.ledger.reader import fetch_nodes
from alprfed.ledger.replay import VERIFY_PAGE
from alprfed.ledger.writer import DEFAULT_MAX_BATCH
from alprfed.signing import SigningKey
from bench.environment import DATABASE_LABELS, POSTGRES, SQLITE, BenchEnv, BenchError
from bench.hosts import REPO_ROOT
from bench.ingest import alprfed_command
from bench.ledger_data import ORIGIN, CachedLedger, cached_ledger, decision_body, plate
from bench.report import Figure, PartReport, at_least, at_most
from bench.stats import MS_PER_S, Latency, time_each

PART = "ledger"
TITLE = "Audit ledger: durable appends, inclusion and consistency proofs, verification"
APPENDS_LIMIT_PER_S = 10_000  # issue 15 (was 5,000)
PROOF_LIMIT_MS = 1.0
VERIFY_LIMIT_S = 60.0  # issue 15: 10 million entries, about a year of national searches
VERIFY_TARGET_SIZE = 10_000_000
VERIFY_TIMEOUT_S = 3_600.0
VERIFIED_SAMPLE = 20


@dataclass(frozen=True)
class LedgerSettings:
    # (concurrent appenders, total appends)
    appends: tuple[tuple[int, int], ...] = ((1, 300), (16, 3_000), (256, 20_000))
    databases: tuple[str, ...] = (SQLITE, POSTGRES)
    proof_sizes: tuple[int, ...] = (10_000, 100_000, 1_000_000)
    proofs: int = 1_000
    warmup: int = 100
    verify_sizes: tuple[int, ...] = (1_000_000, VERIFY_TARGET_SIZE)


async def _append_all(url: str, callers: int, total: int, seed: int) -> float:
    rng, now = random.Random(f"{seed}:appends"), SYSTEM_CLOCK.now()
    work = [(decision_body(rng, now), (plate(rng),)) for _ in range(total)]
    store = LedgerStore.open(url, origin=ORIGIN, signer=SigningKey.generate(), clock=SYSTEM_CLOCK)
    try:
        ledger = LedgerWriter(store)
        shares = [work[i::callers] for i in range(callers)]

        async def caller(share: list[tuple[dict[str, object], tuple[str]]]) -> None:
            for body, plates in share:
                await ledger.append("query_decision", body, plates)

        started = time.perf_counter()
        await asyncio.gather(*(caller(share) for share in shares))
        elapsed = time.perf_counter() - started
        await ledger.close()
        if store.size() != total:
            raise BenchError(f"the ledger holds {store.size()} entries, not {total}")
    finally:
        store.close()
    return total / elapsed


def _append_floor(url: str, batch: int, total: int, entry_bytes: int) -> float:
    engine = create_engine(url, durable=True)
    table = sa.Table(
        "bench_floor",
        sa.MetaData(),
        sa.Column("idx", sa.BigInteger, primary_key=True, autoincrement=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
    )
    try:
        with writer(engine).begin() as conn:
            table.create(conn)
        data = bytes(entry_bytes)
        started = time.perf_counter()
        for start in range(0, total, batch):
            with writer(engine).begin() as conn:
                rows = [{"idx": i, "data": data} for i in range(start, min(start + batch, total))]
                conn.execute(table.insert(), rows)
        return total / (time.perf_counter() - started)
    finally:
        engine.dispose()


def _appends(settings: LedgerSettings, env: BenchEnv, report: PartReport) -> None:
    rng = random.Random(0)
    entry_bytes = len(repr(decision_body(rng, 0)).encode()) + 200  # entry envelope, commitment
    for database in env.databases(settings.databases):
        for callers, total in settings.appends:
            env.log(f"{PART}: {DATABASE_LABELS[database]}, {callers} appenders")
            with env.database(database, f"{PART}_appends") as url:
                rate = asyncio.run(_append_all(url, callers, total, env.seed))
            with env.database(database, f"{PART}_floor") as url:
                batch = min(callers, DEFAULT_MAX_BATCH)
                floor = _append_floor(url, batch, total, entry_bytes)
            report.add(
                Figure(
                    PART, "durable appends/s", f"{DATABASE_LABELS[database]}, {callers} appenders",
                    rate, "/s", floor, f"raw inserts, {batch} per commit",
                    (at_least(APPENDS_LIMIT_PER_S, f"≥ {APPENDS_LIMIT_PER_S:,}/s"),)
                    if callers == settings.appends[-1][0] else (),
                )
            )  # fmt: skip


def _proof_figures(
    reader: LedgerReader, size: int, rng: random.Random, settings: LedgerSettings
) -> list[Figure]:
    count = settings.proofs + settings.warmup
    indexes = [rng.randrange(size) for _ in range(count)]
    old_sizes = [rng.randrange(1, size) for _ in range(count)]
    figures = []
    with reader.engine.connect() as conn:
        cases = (
            ("inclusion proof", lambda i: reader.inclusion_proof(indexes[i], size),
             lambda i: fetch_nodes(conn, plan_nodes(inclusion_plan(indexes[i], size)))),
            ("consistency proof", lambda i: reader.consistency_proof(old_sizes[i], size),
             lambda i: fetch_nodes(conn, plan_nodes(consistency_plan(old_sizes[i], size)))),
        )  # fmt: skip
        for measure, proof, floor in cases:
            got = Latency.of(time_each(proof, count=settings.proofs, warmup=settings.warmup))
            bare = Latency.of(time_each(floor, count=settings.proofs, warmup=settings.warmup))
            figures.append(
                Figure(
                    PART, f"{measure} p50", f"SQLite, {size:,} entries",
                    got.p50 * MS_PER_S, "ms", bare.p50 * MS_PER_S, "the subtree reads",
                    (at_most(PROOF_LIMIT_MS, f"≤ {PROOF_LIMIT_MS:g} ms"),),
                    note=f"p99 {got.p99 * MS_PER_S:.2f} ms",
                )
            )  # fmt: skip
    return figures


def _proofs(settings: LedgerSettings, env: BenchEnv, report: PartReport) -> None:
    for size in settings.proof_sizes:
        url, cached = cached_ledger(env.cache_dir, size, seed=env.seed, log=env.log)
        env.log(f"{PART}: proofs at {size:,} entries")
        reader = LedgerReader.open_readonly(url)
        try:
            _check_inclusion(reader, cached, env.rng(f"{PART}:check:{size}"))
            for figure in _proof_figures(reader, size, env.rng(f"{PART}:{size}"), settings):
                report.add(figure)
        finally:
            reader.close()


def _check_inclusion(reader: LedgerReader, cached: CachedLedger, rng: random.Random) -> None:
    """Proofs that do not verify against the signed checkpoint would make timing them moot.

    Raises:
        ProofError: a proof does not lead to the checkpoint's root.
    """
    checkpoint = open_checkpoint(reader.latest_checkpoint(), [cached.verifier()], origin=ORIGIN)
    for index in (rng.randrange(checkpoint.size) for _ in range(VERIFIED_SAMPLE)):
        proof = reader.inclusion_proof(index, checkpoint.size)
        verify_inclusion(
            index, checkpoint.size, leaf_hash(reader.entry(index)), proof, checkpoint.root
        )


def _hash_everything(url: str, size: int) -> float:
    reader = LedgerReader.open_readonly(url)
    try:
        started = time.perf_counter()
        for start in range(0, size, VERIFY_PAGE):
            for data in reader.entries(start, min(size, start + VERIFY_PAGE)):
                leaf_hash(data)
        return time.perf_counter() - started
    finally:
        reader.close()


def _verify(settings: LedgerSettings, env: BenchEnv, report: PartReport) -> None:
    for size in settings.verify_sizes:
        url, cached = cached_ledger(env.cache_dir, size, seed=env.seed, log=env.log)
        env.log(f"{PART}: alprfed ledger verify, {size:,} entries")
        command = [*alprfed_command(), "ledger", "--database", url, "verify", "--key", cached.vkey]
        load = os.getloadavg()[0]
        cpu_before = _children_cpu_s()
        started = time.perf_counter()
        done = subprocess.run(
            command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=VERIFY_TIMEOUT_S
        )
        elapsed = time.perf_counter() - started
        # CPU per entry (every process of the command: the verifier and its workers) is the
        # figure a shared machine barely moves; wall time follows the load.
        cpu_us = (_children_cpu_s() - cpu_before) / size * 1e6
        if done.returncode != 0 or "ledger verifies" not in done.stdout:
            raise BenchError(
                f"alprfed ledger verify failed ({done.returncode}): {done.stderr[-2000:]}"
            )
        report.add(
            Figure(
                PART, "alprfed ledger verify", f"SQLite, {size:,} entries", elapsed, "s",
                _hash_everything(url, size), "read and hash every entry",
                (at_most(VERIFY_LIMIT_S, f"≤ {VERIFY_LIMIT_S:g} s"),)
                if size == VERIFY_TARGET_SIZE else (),
                note=f"{cpu_us:.1f} µs CPU per entry; load average {load:.1f} at start",
            )
        )  # fmt: skip


def _children_cpu_s() -> float:
    """User and system CPU seconds of every waited-for child process so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run(settings: LedgerSettings, env: BenchEnv) -> PartReport:
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    _appends(settings, env, report)
    _proofs(settings, env, report)
    _verify(settings, env, report)
    report.notes += [
        "Entries: shaped like the gateway's query_decision for a warranted query to 8 "
        "agencies: a body of about 1.7 KB of canonical JSON, about 1.9 KB as an entry with "
        "its chain hash and one salted plate commitment.",
        f"Appends: each appender awaits its entries one after another; the writer batches up "
        f"to {DEFAULT_MAX_BATCH} entries per transaction and signs one checkpoint per batch.",
        f"Proofs: {settings.proofs} timed after {settings.warmup} warm-up, against the whole "
        f"tree; {VERIFIED_SAMPLE} inclusion proofs verified against the signed checkpoint.",
        "Verify: from launching the command to its exit, interpreter start-up included; a log "
        "this large is verified in chunks by one worker process per CPU "
        "(alprfed/ledger/chunked_verify.py). The 10-million-entry ledger cycles 100,000 "
        "distinct bodies (bench/ledger_data.py).",
    ]
    report.seconds = time.perf_counter() - started
    return report
