"""A query whose call its deadline cancels after its decision was logged still gets its outcome.

The officer's deadline cancels the gateway's handler of the call. Had that cancelled the query,
the ledger would hold a decision and no outcome: the audit of a query whose nodes may have
been asked left incomplete. Two places it happened:

- the outcome entry, appended after the fan-out near the deadline, waiting in the ledger
  writer's queue: the writer drops a cancelled caller's entry whose batch has not begun;
- the witness wait (at least MIN_WITNESS_WAIT_S, 1 s, which a shorter deadline ends first).

Real parts only: the test federation (gateway in this process, its ledger on SQLite); a node,
or witnesses, that accept connections and never answer; the ledger writer made to wait the way
a busy database makes it wait (another connection holding SQLite's write lock while an earlier
entry's batch commits).
"""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import grpc
import pytest
from federations import Federation, start_federation, stop_federation

from alprfed.ledger import LedgerEntryView
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.v1 import gateway_pb2
from gateway.deadlines import DEADLINE_PASSED

# The query's deadline: past the node timeout (2 s, when the fan-out to the black hole ends
# and the outcome is appended), well inside SQLite's 10 s busy timeout (alprfed.db), so the
# batch held up by the lock waits for it rather than failing.
DEADLINE_S = 3.5
GIVE_UP_S = 30.0  # waiting for something that happens in well under a second
# Shorter than the witness wait (gateway.service MIN_WITNESS_WAIT_S, 1 s).
WITNESS_WAIT_DEADLINE_S = 0.5


def listen_silently(host: str, port: int) -> socket.socket:
    """A listener that completes TCP handshakes and then says nothing, ever."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port just given up
    listener.bind((host, port))
    listener.listen(64)
    return listener


@pytest.fixture
def black_hole() -> Iterator[int]:
    with listen_silently("localhost", 0) as listener:
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


@contextmanager
def ledger_write_locked(federation: Federation) -> Iterator[None]:
    """Another connection holds the gateway ledger's SQLite write lock while the block runs:
    every commit waits for it (within SQLite's busy timeout), as on a busy database."""
    database = federation.layout.gateway_config.parent / "gateway.db"
    lock = sqlite3.connect(database, isolation_level=None, timeout=GIVE_UP_S)
    try:
        lock.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            lock.execute("ROLLBACK")
    finally:
        lock.close()


def rejected_entries(federation: Federation, case_number: str) -> list[LedgerEntryView]:
    return [
        e
        for e in federation.logged("query_rejected", "status", "INVALID_ARGUMENT")
        if e.body["request"]["case_number"] == case_number  # type: ignore[index]
    ]


def rejected(federation: Federation, case_number: str) -> LedgerEntryView:
    (entry,) = rejected_entries(federation, case_number)
    return entry


def malformed_query(federation: Federation, case_number: str) -> None:
    """A request the gateway refuses and logs (query_rejected): an append of its own."""
    with pytest.raises(grpc.RpcError) as refused:
        federation.stub("sjpd", "officer-garcia").Query(
            gateway_pb2.QueryRequest(plate="NOT A PLATE!", case_number=case_number),
            timeout=GIVE_UP_S,
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def query_held_at_the_black_hole(
    pool: ThreadPoolExecutor, federation: Federation, warrant: str, timeout: float
) -> tuple[Future[object], LedgerEntryView]:
    """Ask a warranted query and wait until it is logged and sent: its fan-out then waits on
    the black hole until the node timeout. Returns the call and its decision entry."""
    asked = pool.submit(
        federation.query, "sjpd", "officer-garcia", warrant_id=warrant, timeout=timeout
    )
    (decision,) = wait_for(  # type: ignore[misc]
        "the query's decision entry",
        lambda: federation.logged("query_decision", "warrant_id", warrant),
    )
    return asked, decision


def test_a_query_cancelled_by_its_deadline_while_its_outcome_waits_gets_its_outcome_entry(
    tmp_path: Path, black_hole: int
) -> None:
    federation = start_federation(
        tmp_path / "fed", node_ports={"chicago-pd": black_hole}, skip_nodes=("chicago-pd",)
    )
    try:
        warrant = federation.warrant()
        with ThreadPoolExecutor(2) as pool:
            asked, decision = query_held_at_the_black_hole(pool, federation, warrant, DEADLINE_S)
            query_id = decision.body["query_id"]
            with ledger_write_locked(federation):  # the write lock: every commit now waits
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


def test_a_query_cancelled_while_its_decision_waits_for_the_witnesses_gets_its_outcome_entry(
    tmp_path: Path,
) -> None:
    federation = start_federation(tmp_path / "fed", witnessed=True)
    silent: list[socket.socket] = []
    try:
        warrant = federation.warrant()
        # Two witnesses of three (quorum 2) take connections and never answer: the decision's
        # round waits for them until MIN_WITNESS_WAIT_S, longer than the deadline below.
        policy = WitnessPolicy.load(federation.layout.witness_policy)
        for witness_id in ("aclu-norcal", "santa-clara-superior"):
            federation.witnesses.pop(witness_id).stop()
            where = urlsplit(policy.witnesses[witness_id].url)
            silent.append(listen_silently(where.hostname or "", where.port or 0))
        with pytest.raises(grpc.RpcError) as late:
            federation.query(
                "sjpd", "officer-garcia", warrant_id=warrant, timeout=WITNESS_WAIT_DEADLINE_S
            )
        assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        wait_for("the gateway ending the query's call", lambda: queries_ended(federation))
        (decision,) = federation.logged("query_decision", "warrant_id", warrant)
        (outcome,) = wait_for(  # type: ignore[misc]
            "the query's outcome entry",
            lambda: federation.logged("query_outcome", "query_id", decision.body["query_id"]),
        )
    finally:
        stop_federation(federation)
        for listener in silent:
            listener.close()
    assert outcome.body["decision_entry"] == decision.index
    # Fail closed: nothing was sent without a witnessed decision, and the ledger says why.
    recorded = {o["agency"]: (o["outcome"], o["detail"]) for o in outcome.body["outcomes"]}  # type: ignore[union-attr, index]
    assert recorded["sjpd"] == ("unavailable", "ledger not witnessed")
    assert recorded["chicago-pd"] == ("unavailable", "ledger not witnessed")


def test_a_query_cut_off_by_the_gateway_stopping_gets_its_outcome_entry(
    tmp_path: Path, black_hole: int
) -> None:
    """A stop without grace cancels every call; the queries run on to their outcome entries
    before the nodes' channels and the ledger writer close."""
    federation = start_federation(
        tmp_path / "fed", node_ports={"chicago-pd": black_hole}, skip_nodes=("chicago-pd",)
    )
    gateway_stopped = False
    try:
        warrant = federation.warrant()
        with ThreadPoolExecutor(1) as pool:
            asked, decision = query_held_at_the_black_hole(pool, federation, warrant, GIVE_UP_S)
            federation.gateway.stop()
            gateway_stopped = True
            with pytest.raises(grpc.RpcError):
                asked.result()
        outcomes = federation.logged("query_outcome", "query_id", decision.body["query_id"])
    finally:
        if not gateway_stopped:
            federation.gateway.stop()
        for node in federation.nodes.values():
            node.stop(grace=None)
    assert len(outcomes) == 1, "the stop left the query's decision without an outcome"
    recorded = {o["agency"]: o["outcome"] for o in outcomes[0].body["outcomes"]}  # type: ignore[union-attr, index]
    assert recorded["chicago-pd"] == "timed_out"
    assert recorded["sjpd"] == "results"


def test_a_rejected_request_cancelled_while_its_entry_waits_still_leaves_its_entry(
    tmp_path: Path,
) -> None:
    """A malformed request is recorded (query_rejected) before its error goes back; a caller
    whose deadline passes while that entry waits in the writer's queue must not take the
    entry with it."""
    federation = start_federation(tmp_path / "fed")
    try:
        with ThreadPoolExecutor(1) as pool:
            with ledger_write_locked(federation):  # the write lock: every commit now waits
                ahead = pool.submit(malformed_query, federation, "AHEAD")
                # Time for its batch to begin and wait on the lock. Were it still queued, the
                # cut entry could share its batch and be kept even by the old code: the test
                # would pass without testing (it failed on the old code on this machine).
                time.sleep(0.3)
                with pytest.raises(grpc.RpcError) as late:
                    federation.stub("sjpd", "officer-garcia").Query(
                        gateway_pb2.QueryRequest(plate="NOT A PLATE!", case_number="CUT"),
                        timeout=WITNESS_WAIT_DEADLINE_S,
                    )
                assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
                wait_for("the gateway ending the call", lambda: queries_ended(federation))
                assert not ahead.done()
            ahead.result()
        malformed_query(federation, "AFTER")  # first in, first out: the cut one is in by now
        cut = rejected_entries(federation, "CUT")
        first, last = rejected(federation, "AHEAD"), rejected(federation, "AFTER")
    finally:
        stop_federation(federation)
    assert len(cut) == 1, "the rejected request's entry was dropped with its cancelled call"
    assert first.index < cut[0].index < last.index


def test_a_query_whose_deadline_passed_before_its_fan_out_asks_no_node(tmp_path: Path) -> None:
    """A query held up past its deadline (here its decision entry waits on the database) still
    logs its outcome, but asks no node: no sighting is released to a caller who is gone."""
    federation = start_federation(tmp_path / "fed")
    try:
        warrant = federation.warrant()
        # The decision entry's commit now waits (the lock goes before the pool shuts down).
        with ThreadPoolExecutor(1) as pool, ledger_write_locked(federation):
            asked = pool.submit(
                federation.query,
                "sjpd",
                "officer-garcia",
                warrant_id=warrant,
                timeout=WITNESS_WAIT_DEADLINE_S,
            )
            with pytest.raises(grpc.RpcError) as late:
                asked.result()
            assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            wait_for("the gateway ending the query's call", lambda: queries_ended(federation))
        (decision,) = wait_for(  # type: ignore[misc]
            "the query's decision entry",
            lambda: federation.logged("query_decision", "warrant_id", warrant),
        )
        (outcome,) = wait_for(  # type: ignore[misc]
            "the query's outcome entry",
            lambda: federation.logged("query_outcome", "query_id", decision.body["query_id"]),
        )
    finally:
        stop_federation(federation)
    recorded = {o["agency"]: (o["outcome"], o["detail"]) for o in outcome.body["outcomes"]}  # type: ignore[union-attr, index]
    assert recorded["sjpd"] == ("unavailable", DEADLINE_PASSED)
    assert recorded["chicago-pd"] == ("unavailable", DEADLINE_PASSED)
