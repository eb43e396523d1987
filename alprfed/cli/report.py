"""`alprfed report`: the transparency report, built only from a ledger that verifies.

Where to read the ledger is said before the command, as for `alprfed ledger`::

    alprfed report --database sqlite:///gateway.db build --out site/ --witness-policy w.policy
    alprfed report --profile auditor.toml serve --out site/ --listen 127.0.0.1:8080 ...

Both verify first, exactly as `alprfed ledger verify` and `alprfed ledger audit` do (the same
code), and publish nothing from a ledger that fails: `build` exits non-zero naming why and
leaves the directory as it was; `serve` answers 503 until the ledger verifies again.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from alprfed.cli.common import console, friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.cli.ledger import (
    _KEY_OPTION,
    _POLICY_OPTION,
    F,
    _open_source,
    entry_total,
    load_trust,
    source_options,
    store_source_options,
)
from alprfed.cli.progress import progress_options, progress_passes, wanted
from alprfed.clock import SYSTEM_CLOCK
from alprfed.errors import ConfigError
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.source import LedgerSource
from alprfed.ledger.witness_policy import WitnessPolicy


@click.group()
@source_options
@click.pass_context
def report(ctx: click.Context, /, **options: Any) -> None:
    """Build or serve the public transparency report (docs/REPORT.md)."""
    store_source_options(ctx, **options)


_OUT_OPTION = click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="The site's directory: created, or replaced whole by a report built before.",
)
_UNWITNESSED_OPTION = click.option(
    "--unwitnessed",
    is_flag=True,
    help="Build without a --witness-policy: the report then says no witness was checked.",
)


def _build_options(command: F) -> F:
    """Where the site goes and what to trust: the same for `build` and `serve`."""
    for option in (_UNWITNESSED_OPTION, _POLICY_OPTION, _KEY_OPTION, _OUT_OPTION):
        command = option(command)
    return command


def _trust(
    keys: tuple[str, ...], policy_file: Path | None, unwitnessed: bool
) -> tuple[list[NoteVerifier], WitnessPolicy | None]:
    # Fail closed: a report is a public claim that the log is witnessed, so leaving the
    # witness policy out must be said, not forgotten.
    if policy_file is not None and unwitnessed:
        raise ConfigError("give --witness-policy or --unwitnessed, not both")
    if policy_file is None and not unwitnessed:
        raise ConfigError(
            "give the --witness-policy the published checkpoint must satisfy, or --unwitnessed "
            "to build a report that says no witness was checked"
        )
    return load_trust(keys, policy_file)


def _builder(
    source: LedgerSource,
    verifiers: list[NoteVerifier],
    policy: WitnessPolicy | None,
    out: Path,
    state: Path | None,
    *,
    show_progress: bool = False,
) -> Callable[[], int]:
    """A function that verifies, compiles and writes the site and returns the verified size
    (raising LedgerError for a ledger that does not verify); ``show_progress`` draws a bar
    for each pass over the entries."""
    from alprfed.report import compile_report, render_site, write_site

    def build() -> int:
        total = entry_total(source) if show_progress else None
        passes = ("verifying", "compiling")
        with progress_passes(passes, total, show=show_progress) as (verified, compiled_step):
            compiled = compile_report(
                source,
                verifiers,
                witness_policy=policy,
                clock=SYSTEM_CLOCK,
                state_file=state,
                on_verified=verified,
                on_compiled=compiled_step,
            )
        write_site(render_site(compiled), out)
        return compiled.verified.size

    return build


@report.command()
@_build_options
@click.option(
    "--state",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Monitor state file, as for `alprfed ledger verify`.",
)
@progress_options
@json_option
@click.pass_context
@friendly_errors
def build(
    ctx: click.Context,
    out: Path,
    keys: tuple[str, ...],
    policy_file: Path | None,
    unwitnessed: bool,
    state: Path | None,
    quiet: bool,
    force_progress: bool,
    as_json: bool,
) -> None:
    """Verify the ledger, then write the report's static site to --out."""
    verifiers, policy = _trust(keys, policy_file, unwitnessed)
    show = wanted(quiet=quiet, forced=force_progress, as_json=as_json)
    size = _builder(_open_source(ctx), verifiers, policy, out, state, show_progress=show)()
    if as_json:
        emit_json({"verified_entries": size, "index": str(out / "index.html")})
        return
    console.print(
        f"[bold green]report built[/] from {size} verified entries: {out / 'index.html'}",
        highlight=False,
        soft_wrap=True,
    )


@report.command()
@_build_options
@click.option(
    "--listen",
    default="127.0.0.1:8080",
    show_default=True,
    metavar="HOST:PORT",
    help="Where to serve the site (port 0: any free port).",
)
@click.option(
    "--poll",
    "poll_s",
    type=click.FloatRange(min=0.5),
    default=10.0,
    show_default=True,
    help="Seconds between checks for a new checkpoint.",
)
@click.pass_context
@friendly_errors
def serve(
    ctx: click.Context,
    out: Path,
    keys: tuple[str, ...],
    policy_file: Path | None,
    unwitnessed: bool,
    listen: str,
    poll_s: float,
) -> None:
    """Serve the report, rebuilt (after verifying) whenever the ledger grows."""
    from alprfed.report.serve import ReportServer

    verifiers, policy = _trust(keys, policy_file, unwitnessed)
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--listen {listen!r}: use HOST:PORT, e.g. 127.0.0.1:8080")
    source = _open_source(ctx)
    build_once = _builder(source, verifiers, policy, out, None)
    server = ReportServer(
        out,
        rebuild=build_once,
        latest=source.latest_checkpoint,
        host=host,
        port=int(port),
        poll_s=poll_s,
    ).start()
    # Printed alone on its line so scripts (and the demo) can read the address.
    click.echo(f"serving the transparency report at {server.url}", err=True)
    if server.failure:
        click.echo(f"not published yet: {server.failure}", err=True)
    # Ctrl-C or a service manager's SIGTERM: stop serving and exit 0.
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        stop.wait()
    finally:
        server.stop()
