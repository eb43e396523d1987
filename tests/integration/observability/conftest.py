from __future__ import annotations

from collections.abc import Iterator

import pytest
from federations import stop_federation
from observed import ObservedFederation, start_observed_federation


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedFederation]:
    running = start_observed_federation(tmp_path_factory.mktemp("observed") / "fed")
    try:
        yield running
    finally:
        stop_federation(running.federation)
