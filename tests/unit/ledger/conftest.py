"""Fixtures for the ledger's pure code: the vendored vectors (tests/vectors, see SOURCES.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

VECTORS = Path(__file__).resolve().parents[2] / "vectors"


@pytest.fixture(scope="session")
def core_vectors() -> dict[str, Any]:
    """The distilled RFC 6962 / C2SP known answers (tests/vectors/rfc6962-core-vectors.json)."""
    return json.loads((VECTORS / "rfc6962-core-vectors.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def c2sp_text() -> Any:
    def read(name: str) -> str:
        return (VECTORS / "c2sp" / name).read_text(encoding="utf-8")

    return read
