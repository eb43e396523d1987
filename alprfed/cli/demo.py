"""`alprfed demo` tells the story against a real local federation; `alprfed up` keeps it running.

Both build the demo federation (alprfed.demo.spec.DEMO) with fresh keys and a fresh PKI, seed
each node with synthetic sightings, and start every node and the gateway as separate processes
on free localhost ports. `demo` runs the scripted story and stops everything; `up` prints how to
query the federation from another terminal and runs until Ctrl-C.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from rich.table import Table

from alprfed.cli.common import console, fail, friendly_errors
from alprfed.demo.layout import Layout, build_layout
from alprfed.demo.processes import FederationProcesses, alprfed_command
from alprfed.demo.spec import DEMO, FederationSpec
from alprfed.errors import AlprfedError

SEED_DAYS = 40  # the synthetic traffic spans this many days before now
PARALLEL_SEEDS = 2  # one per core
# Closing the terminal (SIGHUP) or a kill (SIGTERM) must stop the federation too: its
# processes run in their own sessions and would otherwise outlive us.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def stop_on_signals() -> None:
    """Turn SIGTERM and SIGHUP into KeyboardInterrupt, so every cleanup block runs."""

    def interrupt(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for signum in STOP_SIGNALS[1:]:
        signal.signal(signum, interrupt)


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("localhost", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def build(root: Path, spec: FederationSpec) -> Layout:
    nodes = [a.agency_id for a in spec.agencies if a.runs_node]
    witnesses = [w.witness_id for w in spec.witnesses]
    gateway_port, tiles_port, *ports = free_ports(len(nodes) + len(witnesses) + 2)
    return build_layout(
        root,
        spec,
        gateway_port=gateway_port,
        node_ports=dict(zip(nodes, ports[: len(nodes)], strict=True)),
        witness_ports=dict(zip(witnesses, ports[len(nodes) :], strict=True)),
        tiles_port=tiles_port,
    )


def seed_all(processes: FederationProcesses, spec: FederationSpec) -> None:
    nodes = [a for a in spec.agencies if a.runs_node]
    running: list[tuple[str, object]] = []
    queue = list(enumerate(nodes))
    while queue or running:
        while queue and len(running) < PARALLEL_SEEDS:
            seed, agency = queue.pop(0)
            running.append(
                (
                    agency.agency_id,
                    processes.seed(
                        agency.agency_id,
                        sightings=agency.sightings,
                        seed=1000 + seed,
                        days=SEED_DAYS,
                    ),
                )
            )
        agency_id, process = running.pop(0)
        if process.wait() != 0:  # type: ignore[attr-defined]
            raise AlprfedError(
                f"seeding {agency_id} failed; see {processes.log_of('seed-' + agency_id)}"
            )


def start_all(processes: FederationProcesses, layout: Layout) -> None:
    nodes = [a for a in layout.spec.agencies if a.runs_node]
    for witness in layout.spec.witnesses:
        processes.start_witness(witness.witness_id)
    for agency in nodes:
        processes.start_node(agency.agency_id)
    for witness in layout.spec.witnesses:
        processes.wait_http_ready(witness.witness_id, layout.witness_addresses[witness.witness_id])
    for agency in nodes:
        processes.wait_ready(
            agency.agency_id, layout.node_addresses[agency.agency_id], "alprfed.v1.AgencyNode"
        )
    processes.start_gateway()
    processes.wait_ready("gateway", layout.gateway_address, "alprfed.v1.Gateway")


def show_federation(layout: Layout) -> None:
    table = Table(title=layout.spec.name, header_style="bold")
    for column in ("agency", "state", "kind", "node", "seeded sightings"):
        table.add_column(column)
    for a in layout.spec.agencies:
        table.add_row(
            a.name,
            a.state,
            a.kind.value,
            layout.node_addresses.get(a.agency_id, "— (requester only)"),
            f"{a.sightings:,}" if a.runs_node else "",
        )
    console.print(table)
    if layout.spec.witnesses:
        witnesses = Table(
            title=f"witnesses (any {layout.spec.witness_quorum} of "
            f"{len(layout.spec.witnesses)} make a checkpoint public)",
            header_style="bold",
        )
        for column in ("oversight body", "witness key name", "address"):
            witnesses.add_column(column)
        for w in layout.spec.witnesses:
            witnesses.add_row(w.witness_id, w.name, layout.witness_addresses[w.witness_id])
        console.print(witnesses)


def report_args(layout: Layout, command: str, out: Path, *extra: str) -> list[str]:
    """`alprfed report` as the state auditor runs it: through the gateway, with its own
    certificate, trusting the witness policy (or, without witnesses, the log key alone)."""
    trust = (
        ["--witness-policy", str(layout.witness_policy)]
        if layout.spec.witnesses
        else ["--key", str(layout.vkey_file), "--unwitnessed"]
    )
    profile = layout.profile("ca-state-auditor", "auditor-patel")
    return ["report", "--profile", str(profile), command, "--out", str(out), *trust, *extra]


def publish_report(layout: Layout, out: Path) -> None:
    """Build the transparency report with the ordinary client. Raises: AlprfedError."""
    # Our own interpreter and arguments, never shell text.
    built = subprocess.run(  # noqa: S603
        alprfed_command(*report_args(layout, "build", out)),
        capture_output=True,
        text=True,
        check=False,
    )
    if built.returncode != 0:
        raise AlprfedError(f"the transparency report was not built: {built.stderr.strip()}")
    console.print(
        f"transparency report built from the verified ledger: {out / 'index.html'}",
        soft_wrap=True,
    )


@contextmanager
def running_federation(
    root: Path, spec: FederationSpec
) -> Iterator[tuple[Layout, FederationProcesses]]:
    started = time.monotonic()
    console.print(f"building the federation in {root} (PKI, keys, configs) ...")
    layout = build(root, spec)
    processes = FederationProcesses(layout)
    try:
        total = sum(a.sightings for a in spec.agencies)
        console.print(
            f"seeding {total:,} synthetic sightings across "
            f"{sum(a.runs_node for a in spec.agencies)} nodes ..."
        )
        seed_all(processes, spec)
        console.print("starting every witness, node and the gateway as separate processes ...")
        start_all(processes, layout)
        console.print(f"federation up in {time.monotonic() - started:.1f} s")
        show_federation(layout)
        yield layout, processes
    finally:
        processes.stop_all()


@click.command("demo")
@click.option(
    "--keep",
    type=click.Path(file_okay=False, path_type=Path),
    help="Build the federation in this new directory and keep it afterwards.",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where to write the transparency report (default: report/ in the --keep directory, "
    "else a new directory under the system's temporary directory).",
)
@friendly_errors
def demo(keep: Path | None, report_dir: Path | None) -> None:
    """Run the whole system on embedded defaults: a scripted story, then exit.

    Five agency nodes (CA, IL, VA, WA, MN) seeded with synthetic sightings, requesters without
    nodes (a federal agency, a Texas sheriff), courts, a gateway with its ledger, and an
    auditor. Leaves nothing running.
    """
    from alprfed.demo.story import Story

    if keep is not None and keep.exists():
        fail(f"{keep} exists; --keep builds a new directory (remove it or choose another)")
    stop_on_signals()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="alprfed-demo-") as tmp:
        root = keep if keep is not None else Path(tmp) / "federation"
        with running_federation(root, DEMO) as (layout, processes):
            checks = Story(layout, processes).run(root / "officer-receipt.tlog-proof")
            if report_dir is None:
                # Outside the federation's temporary directory, which goes when the demo ends;
                # never in the working directory, which may be someone's checkout.
                fresh = Path(tempfile.mkdtemp(prefix="alprfed-report-")) if keep is None else None
                report_dir = fresh or root / "report"
            publish_report(layout, report_dir.resolve())
    console.print()
    if checks.failures:
        fail(f"the demo did not go as scripted: {'; '.join(checks.failures)}")
    console.print(
        f"[bold green]demo complete[/] in {time.monotonic() - started:.0f} s; "
        "every process stopped" + (f"; federation kept in {keep}" if keep else "")
    )


@click.command("up")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("demo-federation"),
    show_default=True,
    help="Where to build the federation (must not exist, unless --fresh).",
)
@click.option("--fresh", is_flag=True, help="Delete the directory first if it exists.")
@friendly_errors
def up(directory: Path, fresh: bool) -> None:
    """Start the demo federation and keep it running until Ctrl-C."""
    if directory.exists():
        if not fresh:
            fail(f"{directory} exists; pass --fresh to rebuild it")
        if not (directory / "federation.toml").is_file():
            fail(
                f"{directory} does not look like a federation built by alprfed up; "
                "refusing to delete it"
            )
        shutil.rmtree(directory)
    stop = threading.Event()
    for signum in STOP_SIGNALS:
        signal.signal(signum, lambda *_: stop.set())
    with running_federation(directory.resolve(), DEMO) as (layout, processes):
        report_dir = layout.root / "report"
        publish_report(layout, report_dir)
        (report_port,) = free_ports(1)
        processes.start_report(
            report_args(layout, "serve", report_dir, "--listen", f"127.0.0.1:{report_port}")
        )
        console.print(
            f"transparency report served at http://127.0.0.1:{report_port}/ "
            "(rebuilt as the ledger grows)",
            soft_wrap=True,
        )
        show_how_to_query(layout)
        stop.wait()
        console.print("stopping the federation ...")


def show_how_to_query(layout: Layout) -> None:
    root = layout.root
    profiles = root / "profiles"
    console.print(
        f"""
[bold]The federation is running.[/] From another terminal (in this directory):

  [dim]# a court signs a warrant; its clerk registers it[/]
  alprfed warrant issue --court-key {root}/keys/courts/santa-clara-superior.pem \\
      --court santa-clara-superior --judge "Hon. M. Alvarez" --id w-demo-1 --agency sjpd \\
      --plate 8FXR413 --from -7d --offense robbery --out warrant.json
  alprfed warrant register warrant.json --profile {profiles}/santa-clara-superior-clerk-lee.toml

  [dim]# an officer queries with it[/]
  alprfed query --profile {profiles}/sjpd-officer-garcia.toml --plate 8FXR413 --from -7d \\
      --purpose robbery --case SJ-2026-1 --warrant w-demo-1 --proof-out receipt.tlog-proof

  [dim]# an auditor verifies the ledger and the officer's receipt[/]
  alprfed ledger --profile {profiles}/ca-state-auditor-auditor-patel.toml \\
      verify --witness-policy {layout.witness_policy}
  alprfed ledger verify-proof receipt.tlog-proof --witness-policy {layout.witness_policy}

  [dim]# anyone follows the log as C2SP tlog-tiles[/]
  curl http://{layout.tiles_address}/checkpoint

Every person's profile is in {profiles}; logs are in {root / "logs"}.
Press Ctrl-C to stop everything.""",
        highlight=False,
        soft_wrap=True,  # copy-pasteable even when the output is not a terminal
    )
