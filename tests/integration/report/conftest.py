"""One small federation's ledger per session for the report tests (tests/report_ledger.py)."""

from __future__ import annotations

import pytest
from report_ledger import BuiltLedger, build_ledger


@pytest.fixture(scope="session")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> BuiltLedger:
    return build_ledger(tmp_path_factory.mktemp("report") / "fed")
