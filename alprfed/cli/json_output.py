"""`--json`: the one option and the one printer every command that prints data shares.

A script reads exactly one JSON document from stdout (keys sorted, so diffs and snapshots are
stable; UTF-8, so plates and names read as written). Progress and notes go to stderr; errors stay
one `error: ...` line on stderr with the documented exit status (docs/OPERATIONS.md).
"""

from __future__ import annotations

import json
from typing import Any

import click

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead."
)


def emit_json(document: Any) -> None:
    """Print ``document`` as the command's whole standard output."""
    click.echo(json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False))
