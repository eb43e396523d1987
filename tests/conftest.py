"""Shared fixtures: a real database on SQLite and on PostgreSQL, exact clocks, keys.

PostgreSQL tests run against the server at ALPRFED_TEST_POSTGRES_URL (default: the local
server's `test` database). Each test gets its own schema, dropped afterwards. When the server
does not answer they skip with the reason -- unless ALPRFED_REQUIRE_POSTGRES=1 (CI sets it),
in which case they fail, so CI can never pass by skipping them.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from alprfed.clock import FixedClock
from alprfed.config import TLSConfig
from alprfed.demo.spec import DEMO
from alprfed.signing import SigningKey

POSTGRES_URL = os.environ.get(
    "ALPRFED_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
REQUIRE_POSTGRES = os.environ.get("ALPRFED_REQUIRE_POSTGRES") == "1"
NOW = 1_764_000_000  # 2025-11-24T16:00:00Z, a fixed "now" for exact tests

_postgres_error: str | None = None
_postgres_checked = False


def postgres_unavailable() -> str | None:
    """None when the server answers; else why not (checked once per session)."""
    global _postgres_checked, _postgres_error
    if not _postgres_checked:
        _postgres_checked = True
        try:
            engine = sa.create_engine(POSTGRES_URL, connect_args={"connect_timeout": 3})
            with engine.connect() as conn:
                conn.execute(sa.text("select 1"))
            engine.dispose()
        except Exception as exc:  # any failure means "not available here"
            _postgres_error = f"PostgreSQL at {POSTGRES_URL} does not answer: {exc}"
    return _postgres_error


def require_postgres() -> None:
    reason = postgres_unavailable()
    if reason:
        if REQUIRE_POSTGRES:
            pytest.fail(reason + " (ALPRFED_REQUIRE_POSTGRES=1: not skipping)")
        pytest.skip(reason)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL whose search_path is a fresh schema, dropped after the test."""
    require_postgres()
    schema = "t_" + uuid.uuid4().hex[:16]
    admin = sa.create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    yield f"{POSTGRES_URL}{sep}options={quote(f'-csearch_path={schema}')}"
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return str(request.getfixturevalue("sqlite_url"))
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def gateway_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def node_key() -> SigningKey:
    return SigningKey.generate()


# --- a federation PKI shared by the integration tests (real certificates, made once) --------

# The demo federation's organizations and people (alprfed.demo.spec, policies/policy.csv).
DEMO_AGENCIES = tuple(a.agency_id for a in DEMO.agencies)
DEMO_PEOPLE = DEMO.people


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A development PKI for the demo federation: nodes, cameras and the demo's people."""
    from alprfed.pki import init_pki, issue
    from alprfed.rpc.identity import PrincipalKind

    directory = tmp_path_factory.mktemp("pki")
    orgs = sorted(set(DEMO.organizations()) | set(DEMO.people) - {"federation"})
    init_pki(directory, organizations=orgs)
    for agency in DEMO_AGENCIES:
        issue(directory, organization=agency, kind=PrincipalKind.NODE, principal="node")
        issue(directory, organization=agency, kind=PrincipalKind.CAMERA, principal="cam-1")
    for org, people in DEMO_PEOPLE.items():
        for person in people:
            issue(directory, organization=org, kind=PrincipalKind.PERSON, principal=person)
    return directory


def credential(pki_dir: Path, organization: str, principal: str) -> TLSConfig:
    from alprfed.pki import credential_path

    return credential_path(pki_dir, organization, principal).tls()


# --- the fault suite's size (tests/fault) ---------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the fault suite at soak size (make soak): 1,000,000 fuzz inputs, more kills",
    )
    parser.addoption(
        "--fuzz-inputs",
        type=int,
        default=None,
        help="fuzz inputs in all for each fuzzer (default: a few thousand; --soak: 1,000,000)",
    )
    parser.addoption(
        "--shard",
        default=None,
        metavar="I/N",
        help="run only the Ith (0-based) of N shares of the collected tests, dealt out by "
        "their soak time (SOAK_SECONDS): make soak runs N such processes at once, one a core",
    )


def shard_of(text: str) -> tuple[int, int]:
    """``I/N`` as (I, N), refused unless 0 <= I < N."""
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit() and int(index) < int(count)):
        raise pytest.UsageError(f"--shard {text!r}: expected I/N with 0 <= I < N, as 0/2")
    return int(index), int(count)


# What each test takes at soak size, in seconds on two cores, so --shard can deal the tests out
# to end together: the kill tests from the last soak (docs/RELIABILITY.md), the fuzzers' per
# method or format from their CPU time per input (1,000,000 inputs / 18 methods at 3.6 ms,
# / 22 formats at 1.0 ms). Only the proportions matter; a test not named counts as a minute.
SOAK_SECONDS = {
    "test_every_rpc_answers_malformed_input_deliberately": 200,
    "test_every_file_format_reads_or_names_what_is_wrong": 45,
    "test_killed_witnesses_and_node_lose_nothing_and_queries_fail_closed_without_quorum": 675,
    "test_killed_gateways_lose_no_acknowledged_act_and_log_none_twice": 500,
    "test_a_killed_node_keeps_every_acknowledged_batch_whole_and_no_half_batch": 495,
    "test_killing_the_sequencer_hands_the_ledger_to_another_replica": 445,
    "test_sigkill_while_cosigning_never_rolls_the_witness_back": 420,
    "test_rounds_of_racing_registrations_and_revocations_take_effect_once": 50,
}
UNKNOWN_SOAK_SECONDS = 60


def soak_seconds(item: pytest.Item) -> int:
    return SOAK_SECONDS.get(getattr(item, "originalname", item.name), UNKNOWN_SOAK_SECONDS)


@pytest.hookimpl(trylast=True)  # after -k and -m have deselected theirs
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = config.getoption("--shard")
    if chosen is None:
        return
    index, count = shard_of(chosen)
    # Longest first, each to the least loaded shard; every process computes the same deal from
    # the same collection, so each test runs in exactly one shard.
    loads = [0] * count
    deal: dict[str, int] = {}
    for item in sorted(items, key=lambda item: -soak_seconds(item)):
        lightest = loads.index(min(loads))
        deal[item.nodeid] = lightest
        loads[lightest] += soak_seconds(item)
    kept = [item for item in items if deal[item.nodeid] == index]  # in collection order
    config.hook.pytest_deselected(items=[item for item in items if deal[item.nodeid] != index])
    items[:] = kept


@pytest.fixture(scope="session")
def soak(pytestconfig: pytest.Config) -> bool:
    """True under ``make soak``: fault tests run at soak size."""
    return bool(pytestconfig.getoption("--soak"))
