"""`alprfed ledger export-tiles DIR`: write the ledger as a static C2SP tlog-tiles tree.

Run it after each publication (from cron, or a deploy hook) and serve DIR with any web server
or CDN; docs/TILES.md says which headers to set. Each run writes only what changed, with the
checkpoint last, and refuses if a tile already in DIR differs (a fork).
"""

from __future__ import annotations

from pathlib import Path

import click

from alprfed.cli.common import friendly_errors
from alprfed.cli.json_output import emit_json, json_option
from alprfed.ledger.tile_export import export_tiles


@click.command("export-tiles")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option(
    "--database",
    metavar="URL",
    help="The ledger's database (or give --database before the command, to `ledger`).",
)
@click.option("--list", "list_files", is_flag=True, help="Print every file written.")
@json_option
@click.pass_context
@friendly_errors
def export_tiles_command(
    ctx: click.Context, directory: Path, database: str | None, list_files: bool, as_json: bool
) -> None:
    """Write the published checkpoint, its tiles and its entry bundles to DIRECTORY."""
    from alprfed.ledger.reader import LedgerReader

    # The `ledger` group's --database (ctx.obj) works too, like every other ledger command.
    url = database or getattr(ctx.obj, "database", None)
    if not url:
        raise click.UsageError("say which ledger to export: --database URL")
    reader = LedgerReader.open_readonly(url)
    try:
        report = export_tiles(reader, directory)
    finally:
        reader.close()
    if as_json:  # every file written, --list or not: a script has no other way to learn them
        emit_json(
            {
                "size": report.size,
                "directory": str(directory),
                "written": report.written,
                "unchanged": report.unchanged,
            }
        )
        return
    if list_files:
        for path in report.written:
            click.echo(path)
    # One unwrapped line (plain click.echo, not the console), for scripts and cron mails.
    click.echo(
        f"exported the tree of size {report.size} to {directory}: "
        f"{len(report.written)} file(s) written, {report.unchanged} already there"
    )
