"""Fixtures for the law engine tests: the bundled law book and a request builder."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from law_requests import make_request

from alprfed.config import bundled_policies_dir
from alprfed.law import LawBook, LawRequest, load_law_book


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
