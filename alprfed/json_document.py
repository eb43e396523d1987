"""The text of a JSON document as alprfed prints it for people and scripts: `--json` output and
the transparency report's ``audit.json``, which must be byte for byte the same.

Keys sorted (stable diffs and snapshots), two-space indent, UTF-8 rather than \\u escapes (plates
and names read as written), one trailing newline. Not for anything signed or hashed: those bytes
come from alprfed/canonical.py.
"""

from __future__ import annotations

import json
from typing import Any


def json_document_text(document: Any) -> str:
    """``document`` as one JSON text ending in a newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
