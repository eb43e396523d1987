"""``python -m bench [PART ...] [--quick]``: run the benchmarks, print the table, write JSON.

With no PART every part but ``city`` runs, in the order of ``bench.parts.PARTS``. Results go to
``bench/results/<UTC timestamp>.json`` with a Markdown rendering beside it (the summary kept in
docs/PERFORMANCE.md is a copy of one). Big tables are cached in ``bench/cache`` between runs.
"""

from __future__ import annotations

import datetime as dt
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from bench.environment import DEFAULT_POSTGRES_URL, BenchEnv
from bench.machine import describe_machine
from bench.parts import DEFAULT_PARTS, PARTS, PRESETS, preset
from bench.report import COLUMNS, PartReport, RunReport, markdown, table_rows

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_SEED = 20_261_128
ERROR_CHARS = 300  # of a failed part's error, in the table and the JSON (the log has it all)

# Wide enough for the table when the output is a file or a pipe, not a terminal.
TABLE_WIDTH = shutil.get_terminal_size((160, 40)).columns
console = Console(width=TABLE_WIDTH)
log_console = Console(stderr=True)


def _log(message: str) -> None:
    log_console.print(f"[dim]{time.strftime('%H:%M:%S')}[/] {message}", highlight=False)


def _print(report: RunReport) -> None:
    machine = Table(title="machine", show_header=False)
    for key, value in report.machine.items():
        machine.add_row(key, value)
    console.print(machine)
    for part in report.parts:
        if part.error:
            console.print(f"[red]{part.part} FAILED: {part.error}[/]", highlight=False)
            continue
        table = Table(title=f"{part.title} ({part.seconds:.0f} s)", title_justify="left")
        for column in COLUMNS:
            table.add_column(column, overflow="fold")
        for row in table_rows(part.figures):
            table.add_row(*row, style="red" if row[6] == "MISSED" else None)
        console.print(table)
        for note in part.notes:
            console.print(f"  - {note}", highlight=False)


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("parts", nargs=-1, type=click.Choice(list(PARTS)))
@click.option("--quick", is_flag=True, help="Smaller tables and fewer calls: a few minutes.")
# The smoke tests' sizes: proves the parts run, measures nothing.
@click.option("--preset", "preset_name", type=click.Choice(list(PRESETS)), hidden=True)
@click.option(
    "--postgres-url",
    default=DEFAULT_POSTGRES_URL,
    show_default=True,
    help="Server for the PostgreSQL figures; each measurement uses a schema it drops.",
)
@click.option("--no-postgres", is_flag=True, help="SQLite figures only.")
@click.option(
    "--results",
    "results_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=BENCH_DIR / "results",
    help="Where the JSON and Markdown results go.  [default: bench/results]",
)
@click.option(
    "--cache",
    "cache_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=BENCH_DIR / "cache",
    help="Where big tables are kept between runs.  [default: bench/cache]",
)
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True)
def main(
    parts: tuple[str, ...],
    quick: bool,
    preset_name: str | None,
    postgres_url: str,
    no_postgres: bool,
    results_dir: Path,
    cache_dir: Path,
    seed: int,
) -> None:
    """Measure the federation against its performance targets, each figure beside its floor.

    PARTS: node-search, ingest, fanout, decision, ledger, witnessing, national (default: all of
    these, in this order), and city (only when named: its first run builds 100 million reads).
    """
    chosen = parts or DEFAULT_PARTS
    settings = preset(preset_name or ("quick" if quick else "full"))
    started_at = dt.datetime.now(dt.UTC)
    machine = describe_machine(None if no_postgres else postgres_url)
    pg_url: str | None = None if no_postgres else postgres_url
    if pg_url is not None and machine["postgresql"].startswith("unreachable"):
        _log(f"[yellow]PostgreSQL {machine['postgresql']}: its figures are skipped[/]")
        pg_url = None
    command = shlex.join(["python", "-m", "bench", *sys.argv[1:]])
    report = RunReport(started_at.isoformat(timespec="seconds"), command, settings.name, machine)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="alprfed-bench-") as work:
        env = BenchEnv(Path(work), cache_dir, pg_url, seed, _log)
        for name in chosen:
            _log(f"[bold]{name}[/]")
            try:
                part = PARTS[name](settings, env)
            except Exception as exc:  # one part failing must not cost the others' figures
                log_console.print_exception()
                summary = str(exc).splitlines()[0][:ERROR_CHARS] if str(exc) else ""
                part = PartReport(name, name, error=f"{type(exc).__name__}: {summary}")
            report.parts.append(part)
    report.seconds = time.perf_counter() - began
    _print(report)
    stem = started_at.strftime("%Y%m%dT%H%M%SZ")
    path = report.write_json(results_dir, stem)
    (results_dir / f"{stem}.md").write_text(markdown(report))
    _log(f"results: {path} (and {stem}.md beside it)")
    failed = [part.part for part in report.parts if part.error]
    if failed:
        raise SystemExit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()
