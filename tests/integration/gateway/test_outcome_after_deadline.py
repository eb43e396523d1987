"""A query its deadline cancels while its outcome waits for the ledger still gets its outcome.

The ledger writer drops a cancelled caller's entry if its batch has not begun (a caller that
gave up before anything was written). The outcome entry is appended after the fan-out, near
the officer's deadline: had the query's cancellation dropped it there, the ledger would hold a
decision and no outcome, the audit of a query whose nodes were asked left incomplete.

Real parts only: the test federation (gateway in this process, its ledger on SQLite), one node
a black hole so the fan-out lasts until its timeout, and the ledger writer made to wait the
way a busy database makes it wait: another connection holds SQLite's write lock while an
earlier entry's batch is committing.
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest
from federations import Federation, start_federation, stop_federation

from alprfed.ledger import LedgerEntryView
from alprfed.v1 import gateway_pb2

# The query's deadline: past the node timeout (2 s, when the fan-out to the black hole ends
# and the outcome is appended), well inside SQLite's 10 s busy timeout (alprfed.db), so the
# batch held up by the lock waits for it rather than failing.
DEADLINE_S = 3.5
GIVE_UP_S = 30.0  # waiting for something that happens in well under a second


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes and then says nothing, ever."""
    with socket.socket() as listener:
        listener.bind(("localhost", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def wait_for(what: str, found: Callable[[], object]) -> object:
    give_up = time.monotonic() + GIVE_UP_S
    while not (value := found()):
        if time.monotonic() > give_up:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.02)
    return value


def queries_ended(federation: Federation) -> float:
    """Query calls the gateway has finished, whatever their status (its RPC metric)."""
    server = federation.gateway.server
    assert server is not None
    return sum(
        sample.value
        for family in server.telemetry.registry.collect()
        for sample in family.samples
        if sample.name == "alprfed_rpc_server_handled_total"
        and sample.labels.get("method") == "Query"
    )


def rejected(federation: Federation, case_number: str) -> LedgerEntryView:
    (entry,) = [
        e
        for e in federation.logged("query_rejected", "status", "INVALID_ARGUMENT")
        if e.body["request"]["case_number"] == case_number  # type: ignore[index]
    ]
    return entry


def malformed_query(federation: Federation, case_number: str) -> None:
    """A request the gateway refuses and logs (query_rejected): an append of its own."""
    with pytest.raises(grpc.RpcError) as refused:
        federation.stub("sjpd", "officer-garcia").Query(
            gateway_pb2.QueryRequest(plate="NOT A PLATE!", case_number=case_number),
            timeout=GIVE_UP_S,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_query_cancelled_by_its_deadline_while_its_outcome_waits_gets_its_outcome_entry(
    tmp_path: Path, black_hole: int
) -> None:
    federation = start_federation(
        tmp_path / "fed", node_ports={"chicago-pd": black_hole}, skip_nodes=("chicago-pd",)
    )
    database = federation.layout.gateway_config.parent / "gateway.db"
    try:
        warrant = federation.warrant()
        with ThreadPoolExecutor(2) as pool:
            asked = pool.submit(
                federation.query, "sjpd", "officer-garcia", warrant_id=warrant, timeout=DEADLINE_S
            )
            # Logged and sent: the fan-out now waits on the black hole until its timeout.
            (decision,) = wait_for(  # type: ignore[misc]
                "the query's decision entry",
                lambda: federation.logged("query_decision", "warrant_id", warrant),
            )
            query_id = decision.body["query_id"]
            lock = sqlite3.connect(database, isolation_level=None, timeout=GIVE_UP_S)
            try:
                lock.execute("BEGIN IMMEDIATE")  # the write lock: every commit now waits
                # This entry's batch begins and waits on the lock; an entry appended after it
                # waits in the writer's queue, where a cancelled caller's entry is dropped.
                ahead = pool.submit(malformed_query, federation, "AHEAD")
                with pytest.raises(grpc.RpcError) as late:
                    asked.result()
                assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                # The gateway's side of the deadline: the query's call is over, cancelled
                # while its outcome entry was still queued (the entry ahead still waits).
                wait_for("the gateway ending the query's call", lambda: queries_ended(federation))
                assert not ahead.done()
            finally:
                lock.execute("ROLLBACK")
                lock.close()
            ahead.result()
        # The writer is first in, first out: once this later entry is in, the outcome entry
        # was written or dropped.
        malformed_query(federation, "AFTER")
        outcomes = federation.logged("query_outcome", "query_id", query_id)
        first, last = rejected(federation, "AHEAD"), rejected(federation, "AFTER")
    finally:
        stop_federation(federation)

    assert len(outcomes) == 1, "the query's outcome entry was dropped with its cancelled call"
    (outcome,) = outcomes
    # It waited behind the held-up batch, as the test meant it to: not in it, not after.
    assert first.index < outcome.index < last.index
    assert outcome.body["decision_entry"] == decision.index
    recorded = {o["agency"]: o["outcome"] for o in outcome.body["outcomes"]}  # type: ignore[union-attr, index]
    assert recorded["chicago-pd"] == "timed_out"
    assert recorded["sjpd"] == "results"
