"""A plain, lawful LawRequest and its builder, shared by the law engine's tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

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
