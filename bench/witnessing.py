"""Part 6, witnessing: what cosigning by three independent witnesses costs the ledger.

Three real ``alprfed witness serve`` processes (each with its own SQLite database, fsync on
every cosignature) witness a fresh ledger with quorum 2 of 3, as the demo federation does.

- Append to witnessed: one appender appends a gateway-shaped entry and waits until a published
  (quorum-cosigned) checkpoint covers it -- what a query waits before its receipt, and again
  before its fan-out once nodes demand evidence. Floor: the same durable append alone.
- Appends/s with witnesses: N appenders, each awaiting its entry and its publication. Floor: the
  same appenders without witnesses (every checkpoint published as signed).

The target, witnessing adding at most 5 ms to a query's p50, is stated on the first figure:
a query's receipt waits for one witnessed checkpoint.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from alprfed.clock import SYSTEM_CLOCK
from alprfed.ledger import LedgerStore, LedgerWriter
from alprfed.ledger.cosignature import CosignatureVerifier
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.signing import SigningKey
from bench.environment import BenchEnv, BenchError
from bench.federation import free_ports
from bench.ingest import alprfed_command
from bench.ledger_data import ORIGIN, decision_body, plate
from bench.report import Figure, Goal, PartReport, Target
from bench.stats import MS_PER_S, Latency
from gateway.witnessing import CheckpointWitnessing

PART = "witnessing"
TITLE = "Witnessing: three witness processes cosign the ledger, quorum 2 of 3"
WITNESSES = 3
QUORUM = 2
ADDED_LIMIT_MS = 5.0
READY_TIMEOUT_S = 30.0
PUBLISH_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class WitnessingSettings:
    latency_appends: int = 300
    warmup: int = 20
    rate_callers: int = 64
    rate_appends: int = 3_000


@contextmanager
def witness_processes(
    work: Path, ledger_key: SigningKey, origins: tuple[str, ...]
) -> Iterator[WitnessPolicy]:
    """Start WITNESSES witness processes, each witnessing every one of ``origins`` (one per
    measured ledger: a fresh ledger under an origin a witness already saw grow is, rightly, a
    fork to it); yield the policy naming them (no log line: the runs differ in origin)."""
    logs = "".join(
        f'\n[[log]]\norigin = "{origin}"\n'
        f"keys = [{json.dumps(NoteVerifier.for_key(origin, ledger_key.public).to_vkey())}]\n"
        for origin in origins
    )
    lines: list[str] = []
    processes = []
    try:
        for i, port in enumerate(free_ports(WITNESSES)):
            directory = work / f"witness-{i}"
            directory.mkdir()
            key, name = SigningKey.generate(), f"witness-{i}.bench.example/w"
            key.save(directory / "key.pem")
            (directory / "witness.toml").write_text(
                f'[witness]\nname = "{name}"\nsigning_key = "key.pem"\n'
                f'database_url = "sqlite:///witness.db"\nlisten = "127.0.0.1:{port}"\n' + logs
            )
            vkey = CosignatureVerifier.for_key(name, key.public).to_vkey()
            lines.append(f"witness w{i} {vkey} http://127.0.0.1:{port}")
            log = (directory / "witness.log").open("ab")
            processes.append(
                subprocess.Popen(  # our own command line, nothing untrusted
                    [*alprfed_command(), "witness", "serve", "--config",
                     str(directory / "witness.toml")],
                    stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                )
            )  # fmt: skip
            log.close()
            _wait_ready(port, processes[-1])
        members = " ".join(f"w{i}" for i in range(WITNESSES))
        lines += [f"group all-witnesses {QUORUM} {members}", "quorum all-witnesses"]
        yield WitnessPolicy.parse("\n".join(lines) + "\n")
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_ready(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError(f"a witness exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise BenchError("a witness did not start")


async def _run_ledger(
    url: str,
    origin: str,
    key: SigningKey,
    policy: WitnessPolicy | None,
    callers: int,
    total: int,
    seed: int,
) -> tuple[list[float], float]:
    """Per-append latencies (append + publication) and the overall rate."""
    rng, now = random.Random(f"{seed}:{PART}"), SYSTEM_CLOCK.now()
    work = [(decision_body(rng, now), (plate(rng),)) for _ in range(total)]
    store = LedgerStore.open(
        url, origin=origin, signer=key, clock=SYSTEM_CLOCK, publish_on_append=policy is None
    )
    witnessing = CheckpointWitnessing(store, policy) if policy is not None else None
    try:
        if witnessing is not None:
            await witnessing.start()
        ledger = LedgerWriter(store, on_commit=witnessing.checkpoint_signed if witnessing else None)
        samples: list[float] = []

        async def caller(share: list[tuple[dict[str, object], tuple[str]]]) -> None:
            for body, plates in share:
                started = time.perf_counter()
                entry = await ledger.append("query_decision", body, plates)
                if witnessing is not None:
                    await witnessing.wait_published(entry.index + 1, PUBLISH_TIMEOUT_S)
                samples.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(caller(work[i::callers]) for i in range(callers)))
        rate = total / (time.perf_counter() - started)
        await ledger.close()
        return samples, rate
    finally:
        if witnessing is not None:
            await witnessing.stop()
        store.close()


def run(settings: WitnessingSettings, env: BenchEnv) -> PartReport:
    started = time.perf_counter()
    report = PartReport(PART, TITLE)
    key = SigningKey.generate()
    work = env.scratch(PART)
    cases = (
        ("latency", 1, settings.latency_appends + settings.warmup),
        ("rate", settings.rate_callers, settings.rate_appends),
    )
    origins = tuple(f"{ORIGIN}/{name}" for name, _, _ in cases)
    with witness_processes(work, key, origins) as policy:
        results = {}
        for (name, callers, total), origin in zip(cases, origins, strict=True):
            for witnessed in (True, False):
                env.log(f"{PART}: {name}, {callers} appenders, witnessed={witnessed}")
                url = f"sqlite:///{env.scratch(f'{PART}-{name}-{witnessed}') / 'ledger.db'}"
                results[name, witnessed] = asyncio.run(
                    _run_ledger(
                        url,
                        origin if witnessed else f"{origin}/unwitnessed",
                        key,
                        policy if witnessed else None,
                        callers,
                        total,
                        env.seed,
                    )
                )
    witnessed_latency = Latency.of(results["latency", True][0][settings.warmup :])
    bare_latency = Latency.of(results["latency", False][0][settings.warmup :])
    report.add(
        Figure(
            PART, "append to witnessed checkpoint p50", "SQLite, 3 witness processes",
            witnessed_latency.p50 * MS_PER_S, "ms", bare_latency.p50 * MS_PER_S,
            "the durable append alone",
            (Target(Goal.OVER_FLOOR_AT_MOST, ADDED_LIMIT_MS,
                    f"witnessing adds ≤ {ADDED_LIMIT_MS:g} ms"),),
            note=f"p99 {witnessed_latency.p99 * MS_PER_S:.1f} ms "
            f"(unwitnessed p99 {bare_latency.p99 * MS_PER_S:.1f} ms)",
        )
    )  # fmt: skip
    report.add(
        Figure(
            PART, "witnessed appends/s", f"SQLite, {settings.rate_callers} appenders",
            results["rate", True][1], "/s", results["rate", False][1],
            "the same appends, unwitnessed", (),
            note="each appender awaits its entry and a published checkpoint covering it",
        )
    )  # fmt: skip
    report.notes += [
        f"{WITNESSES} witnesses, each a separate `alprfed witness serve` process on loopback "
        f"HTTP with its own SQLite database (synchronous=FULL: fsync before every answer); "
        f"quorum {QUORUM} of {WITNESSES}. The ledger and the gateway's witnessing run in this "
        f"process, on the same 2 cores as the witnesses ({sys.platform}).",
        "A query waits for one witnessed checkpoint (its outcome, before the receipt); the "
        "first figure's excess over its floor is what witnessing adds to a query's p50.",
    ]
    report.seconds = time.perf_counter() - started
    return report
