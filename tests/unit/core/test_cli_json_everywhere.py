"""Issue 12's convention: every `alprfed` command that prints data takes `--json`, and each
command that does not is one docs/OPERATIONS.md names as printing no data."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click

from alprfed.cli.main import cli

OPERATIONS = Path(__file__).resolve().parents[3] / "docs" / "OPERATIONS.md"

# Long-running services and the scripted demo: they log or tell a story, they print no data.
PRINT_NO_DATA = {
    "node serve",
    "gateway serve",
    "witness serve",
    "report serve",
    "demo",
    "up",
}


def commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None
        path = f"{prefix}{name}"
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} ")
        else:
            yield path, command


def takes_json(command: click.Command) -> bool:
    return any("--json" in getattr(p, "opts", ()) for p in command.params)


def test_every_command_that_prints_data_takes_json() -> None:
    lacking = {path for path, command in commands(cli) if not takes_json(command)}
    assert lacking == PRINT_NO_DATA


def test_every_json_command_has_its_keys_documented() -> None:
    section = OPERATIONS.read_text().split("## Output for scripts: `--json`", 1)[1]
    section = section.split("\n## ", 1)[0]
    undocumented = [
        path
        for path, command in commands(cli)
        if takes_json(command) and f"`{path}`" not in section
    ]
    assert undocumented == []
