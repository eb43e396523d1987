"""`--json`: the one option and the one printer every command that prints data shares.

A script reads exactly one JSON document from stdout, in the one format of
alprfed/json_document.py. Progress and notes go to stderr; errors stay
one `error: ...` line on stderr with the documented exit status (docs/OPERATIONS.md).
"""

from __future__ import annotations

from typing import Any

import click

from alprfed.json_document import json_document_text

json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON document on stdout instead."
)


def emit_json(document: Any) -> None:
    """Print ``document`` as the command's whole standard output."""
    click.echo(json_document_text(document), nl=False)
