"""A plain, lawful LawRequest and its builder, and a policies directory holding one pack under
test, shared by the law engine's tests."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from alprfed.config import bundled_policies_dir
from alprfed.law import LawRequest
from alprfed.models import AgencyKind, Purpose, TimeWindow

NOW = 1_764_000_000  # the same fixed instant as the top-level conftest's clock
DAY = 86_400

# A plain, lawful request: a local agency of the holder's state, homicide, a case number, a
# warrant and the last day. Scenarios change only what they test.
BASE_REQUEST = LawRequest(
    holder_agency="holder-pd",
    holder_state="TX",
    requester_agency="asking-pd",
    requester_state="TX",
    requester_kind=AgencyKind.LOCAL,
    purpose=Purpose.HOMICIDE,
    case_number="2025-000123",
    window=TimeWindow(NOW - DAY, NOW),
    now=NOW,
    warrant=True,
)


def make_request(**changes: Any) -> LawRequest:
    """BASE_REQUEST with ``changes``.

    ``state=`` sets holder and requester state together; ``days_ago=(start, end)`` sets the
    window in days before now.
    """
    state = changes.pop("state", None)
    if state is not None:
        changes.setdefault("holder_state", state)
        changes.setdefault("requester_state", state)
    days_ago = changes.pop("days_ago", None)
    if days_ago is not None:
        changes["window"] = TimeWindow(NOW - days_ago[0] * DAY, NOW - days_ago[1] * DAY)
    return replace(BASE_REQUEST, **changes)


def policies_with(tmp_path: Path, file_name: str, text: str) -> Path:
    """A policies directory holding the real default pack and one pack under test."""
    states = tmp_path / "states"
    states.mkdir()
    shutil.copy(bundled_policies_dir() / "states" / "default.toml", states / "default.toml")
    (states / file_name).write_text(text, "utf-8")
    return tmp_path
