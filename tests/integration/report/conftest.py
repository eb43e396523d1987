"""One small federation's ledger per session for the report tests (tests/report_ledger.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from federations import stop_federation
from report_ledger import BuiltLedger, build_ledger


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltLedger]:
    built = build_ledger(tmp_path_factory.mktemp("report") / "fed")
    yield built
    stop_federation(built.federation)
