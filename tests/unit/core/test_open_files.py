"""The gateway's open-file limit, set on a real child process's own rlimits.

Each case runs in a fresh interpreter whose limits are lowered first (lowering is always
allowed), so the test's own process keeps its limits.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import textwrap

import pytest

from alprfed.rpc.open_files import files_needed

NATIONAL = 1_024


def run_with_limits(soft: int, hard: int, nodes: int) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(
        f"""
        import resource
        from alprfed.errors import ConfigError
        from alprfed.rpc.open_files import ensure_open_files
        resource.setrlimit(resource.RLIMIT_NOFILE, ({soft}, {hard}))
        try:
            print(ensure_open_files({nodes}), resource.getrlimit(resource.RLIMIT_NOFILE)[0])
        except ConfigError as exc:
            print("refused:", exc)
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )


def hard_limit() -> int:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < files_needed(NATIONAL):
        pytest.skip(f"this machine's hard limit ({hard}) is below a national gateway's need")
    return hard if hard != resource.RLIM_INFINITY else 1_048_576


def test_a_soft_limit_of_1024_is_raised_for_a_national_federation() -> None:
    hard = min(hard_limit(), 65_536)  # a soft limit may not exceed the kernel's nr_open
    done = run_with_limits(1_024, hard, NATIONAL)
    assert done.stdout.split() == [str(hard), str(hard)]


def test_a_limit_already_large_enough_is_left_alone() -> None:
    hard = min(hard_limit(), 65_536)
    enough = files_needed(NATIONAL)
    done = run_with_limits(enough, hard, NATIONAL)
    assert done.stdout.split() == [str(enough), str(enough)]


def test_a_hard_limit_too_low_refuses_to_start_and_says_what_to_raise() -> None:
    done = run_with_limits(512, 1_024, NATIONAL)
    assert done.stdout.startswith("refused:")
    assert f"{NATIONAL} nodes" in done.stdout
    assert str(files_needed(NATIONAL)) in done.stdout
    assert "LimitNOFILE" in done.stdout


def test_a_small_federation_needs_no_more_than_a_default_soft_limit() -> None:
    done = run_with_limits(1_024, 1_024, 8)
    assert done.stdout.split() == ["1024", "1024"]
