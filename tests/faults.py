"""What the fault suite tried and found, summed over the run and printed at its end; and the
small federation layout and credentials the fault tests share.

Each fault test adds its counts here as it goes, so a failing run still reports how far it got;
``make soak`` prints the summary (tests/fault/conftest.py) and saves it to bench/results/.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import grpc

from alprfed.config import TLSConfig
from alprfed.demo.layout import Layout
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.warrants import Warrant, WarrantLimits
from alprfed.query import QueryInput
from alprfed.signing import WARRANT_TYPE, Envelope, SigningKey
from alprfed.v1 import gateway_pb2
from alprfed.wire import gateway as gwire

DAY = 86_400
COURT = "santa-clara-superior"  # the court whose clerk registers the fault tests' warrants

# The figures the issue asks a soak run to report, in the order they are printed.
FIGURES = (
    ("kills_tried", "kill -9 tried"),
    ("kills_survived", "kills survived (restarted, then audited)"),
    ("sequencer_failovers", "sequencer kills taken over by a replica"),
    ("acknowledged", "acknowledged acts checked after kills"),
    ("acknowledged_lost", "acknowledged entries lost"),
    ("duplicate_or_phantom", "phantom or duplicate entries"),
    ("races", "racing requests sent"),
    ("fuzz_inputs", "fuzz inputs tried"),
    ("slow_answers", "fuzz calls answered only after 20 s (load)"),
    ("crashes", "crashes (down, UNKNOWN, unexpected status)"),
    ("tracebacks", "tracebacks (in answers or service logs)"),
    ("unexpected_internal", "unexpected INTERNAL"),
)

TALLY: Counter[str] = Counter()

# Inputs each hypothesis example carries. An example costs hypothesis about 0.6 ms of its own
# (seeding, bookkeeping, mutating the last example) on top of drawing the inputs: more than a
# file read or a loopback call takes, so an example of one input spent most of a fuzzer's time
# there. Each input in an example is still sent or read and judged on its own; a failing
# example is shrunk as a whole, the inputs that do not fail shrinking to the simplest.
FUZZ_BATCH = 8


def fuzz_examples(inputs: int) -> int:
    """Hypothesis examples that carry at least ``inputs`` inputs (one at least)."""
    return max(1, -(-inputs // FUZZ_BATCH))


def add(**counts: int) -> None:
    TALLY.update(counts)


def lines() -> list[str]:
    return [f"{label:<46} {TALLY.get(key, 0):>10,}" for key, label in FIGURES]


def save(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: TALLY.get(key, 0) for key, _ in FIGURES}, indent=2) + "\n")


def merge(parts: list[Path], into: Path) -> None:
    """Sum the figures the shards of one soak run saved (``parts``) into TALLY and ``into``."""
    for part in parts:
        TALLY.update(json.loads(part.read_text()))
    save(into)


# What a service's log shows when something went wrong that no caller was told about plainly:
# a traceback (an exception logged with it, or one that escaped), and the line alprfed.rpc
# writes for a call it answered INTERNAL.
TRACEBACK = "Traceback (most recent call last)"
INTERNAL_LINE = "failed unexpectedly [request"


def scan_logs(logs: list[Path]) -> list[str]:
    """Count the tracebacks and INTERNAL answers in the services' ``logs`` (the figures
    ``tracebacks`` and ``unexpected_internal``) and return a line for each, naming its file."""
    found: list[str] = []
    for log in logs:
        for number, line in enumerate(log.read_text(errors="replace").splitlines(), 1):
            if TRACEBACK in line:
                add(tracebacks=1)
                found.append(f"{log.name}:{number}: a traceback")
            elif INTERNAL_LINE in line:
                add(unexpected_internal=1)
                found.append(f"{log.name}:{number}: {line.strip()[:200]}")
    return found


def service_logs(layout: Layout) -> list[Path]:
    """The logs of every process alprfed.demo.processes started for ``layout``."""
    logs = sorted((layout.root / "logs").glob("*.log"))
    assert logs, f"no service logs in {layout.root / 'logs'}: nothing would be scanned"
    return logs


def refused_unexpectedly(code: grpc.StatusCode) -> None:
    """Count a call the fault tests did not expect to be refused so (INTERNAL, or any status
    a client under kills should not see) in its figure."""
    if code == grpc.StatusCode.INTERNAL:
        add(unexpected_internal=1)
    else:
        add(crashes=1)


# --- what the fault tests share ---------------------------------------------------------------


def small_layout(
    root: Path, *, witnesses: bool = False, database_urls: dict[str, str] | None = None
) -> Layout:
    """The demo federation cut to San Jose PD (a node) and ICE ERO, on free ports
    (``database_urls`` as for build_layout: the gateway's may be PostgreSQL)."""
    from dataclasses import replace

    from gateways import free_port

    from alprfed.demo.layout import build_layout
    from alprfed.demo.spec import DEMO

    spec = replace(
        DEMO,
        agencies=tuple(a for a in DEMO.agencies if a.agency_id in ("sjpd", "ice-ero")),
        witnesses=DEMO.witnesses if witnesses else (),
        witness_quorum=DEMO.witness_quorum if witnesses else 0,
    )
    return build_layout(
        root,
        spec,
        gateway_port=free_port(),
        node_ports={"sjpd": free_port()},
        witness_ports={w.witness_id: free_port() for w in spec.witnesses},
        database_urls=database_urls,
    )


def principal_tls(layout: Layout, organization: str, principal: str) -> TLSConfig:
    """The mutual-TLS credential the layout's PKI issued ``principal`` of ``organization``."""
    where = layout.pki / "orgs" / organization / "principals" / principal
    return TLSConfig(ca=layout.pki / "ca.pem", cert=where / "cert.pem", key=where / "key.pem")


def clerk_tls(layout: Layout) -> TLSConfig:
    clerk = next(c.clerk for c in layout.spec.courts if c.court_id == COURT)
    return principal_tls(layout, COURT, clerk)


def sign_warrant(key: SigningKey, now: int) -> Envelope:
    """A fresh warrant of COURT for San Jose PD's robbery case on plate 8FXR413."""
    warrant = Warrant(
        warrant_id="w-" + uuid.uuid4().hex[:12],
        court=COURT,
        judge="Hon. A. Rivera",
        issued_at=now - 60,
        expires_at=now + 30 * DAY,
        agency="sjpd",
        plates=("8FXR413",),
        window=TimeWindow(now - 7 * DAY, now - 120),
        offense=Purpose.ROBBERY,
        limits=WarrantLimits(),
        salt=uuid.uuid4().hex + uuid.uuid4().hex,
        prospective=False,
    )
    return key.sign_envelope(WARRANT_TYPE, warrant.to_canonical())


def warrant_query(warrant_id: str, now: int) -> gateway_pb2.QueryRequest:
    """Officer-garcia's query for the warrant's plate, inside its window."""
    return gwire.query_to_pb(
        QueryInput.create(
            plate="8FXR413",
            window_from=now - 3 * DAY,
            window_to=now - 600,
            purpose=Purpose.ROBBERY,
            case_number="SJ-2026-0042",
            warrant_id=warrant_id,
        )
    )


if __name__ == "__main__":  # make soak: python tests/faults.py SHARD.json... INTO.json
    import sys

    *shards, total = sys.argv[1:]
    missing = [shard for shard in shards if not Path(shard).is_file()]
    merge([Path(shard) for shard in shards if shard not in missing], Path(total))
    print("\n".join(lines()))
    for shard in missing:  # a shard that stopped before its summary: its figures are unknown
        print(f"{shard}: not written, that shard stopped early (see its .log beside it)")
    sys.exit(1 if missing else 0)
