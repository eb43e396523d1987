"""Fixtures for the law engine tests: the bundled law book and a request builder."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.law import LawBook, LawRequest, load_law_book
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


@pytest.fixture(scope="session")
def full_book() -> LawBook:
    """The bundled law book as the gateway loads it, federation agreement included."""
    return load_law_book(bundled_policies_dir())


@pytest.fixture(scope="session")
def book(full_book: LawBook) -> LawBook:
    """State law alone (no federation agreement): what each statute says by itself."""
    documents = {k: v for k, v in full_book.documents().items() if k.startswith("states/")}
    return LawBook({pack.state: pack for pack in full_book.packs()}, documents)


@pytest.fixture
def ask() -> Callable[..., LawRequest]:
    return make_request
