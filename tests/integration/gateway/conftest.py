"""Gateway tests share one running federation per module (see tests/federations.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from federations import Federation, start_federation, stop_federation


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    running = start_federation(tmp_path_factory.mktemp("federation") / "fed")
    yield running
    stop_federation(running)
