"""The fault suite: kills, races and fuzzing, CI-sized by default, soak-sized with --soak."""

from __future__ import annotations

from collections.abc import Iterator

import faults
import pytest
from federations import Federation, start_federation, stop_federation

CI_FUZZ_INPUTS = 3_000  # per fuzzer: a few thousand, well inside the CI budget
SOAK_FUZZ_INPUTS = 1_000_000


@pytest.fixture(scope="session")
def fuzz_inputs(pytestconfig: pytest.Config, soak: bool) -> int:
    """How many inputs each fuzzer sends in all (--fuzz-inputs N overrides)."""
    chosen = pytestconfig.getoption("--fuzz-inputs")
    if chosen is not None:
        return int(chosen)
    return SOAK_FUZZ_INPUTS if soak else CI_FUZZ_INPUTS


def pytest_terminal_summary(
    terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config
) -> None:
    if not faults.TALLY:
        return
    terminalreporter.section("fault suite")
    for line in faults.lines():
        terminalreporter.write_line(line)
    if config.getoption("--soak"):
        shard = config.getoption("--shard")
        # A shard saves its own figures; make soak sums them (faults.merge) into soak.json.
        name = f"soak-shard-{shard.split('/')[0]}.json" if shard else "soak.json"
        faults.save(config.rootpath / "bench" / "results" / name)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    """A running federation (in-process gateway and nodes, real mTLS) per module."""
    running = start_federation(tmp_path_factory.mktemp("federation") / "fed")
    yield running
    stop_federation(running)
