"""Hanging nodes in queries of many agencies: the officer still gets a partial answer in time.

Issue 15, found by ``python -m bench national``: the gateway kept back 10% of the deadline (at
most 250 ms) after its fan-out to log the outcome and answer. With several queries of 64
agencies in flight and some nodes hanging, every fan-out ran to that reserve, the 64-agency
outcome entries were still being logged when the deadline passed, and the officer got
DEADLINE_EXCEEDED and no answer although most nodes had answered. The reserve is now sized by
the agencies in flight (gateway/budget.py).

Real processes: 64 California nodes (``bench.fanout_setup``), 16 of them serving in two child
processes and 48 hanging (each a listener that accepts TCP and never answers: their timeouts
all fire at the end of the fan-out, so the gateway's work after it is what decides, not the
nodes' CPU), the gateway in its own process, its ledger on SQLite. Eight queries at once, each
to all 64: 512 agencies in flight. On the code before the fix this test failed with
DEADLINE_EXCEEDED in 6 runs of 6 (load average 4-10); with it, it passed 5 of 5.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from alprfed.clock import SYSTEM_CLOCK
from alprfed.demo.layout import Layout
from alprfed.ledger import NoteVerifier, iter_entries, verify_tlog_proof
from alprfed.ledger.reader import LedgerReader
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from bench.fanout_setup import Running, running_federation, seed_by_copies, warranted_request
from bench.federation import (
    HOST,
    REQUESTER_AGENCY,
    REQUESTER_OFFICER,
    node_ids,
    person_tls,
    write_layout,
)

pytestmark = pytest.mark.slow

NODES = 64  # alprfed.query.MAX_TARGETS: the largest query, as each share of a national one
HEALTHY_EVERY = 4  # 16 of the 64 answer; the other 48 hang
QUERIES = 8  # at once, each to all 64: half a national query's 1,024 agencies in flight
# The officer's deadline: the national benchmark's. Before the fix the reserve was 10% of what
# the fan-out had left, about 80 ms, for the 512 outcomes to log and answer.
DEADLINE_S = 1.0
# The warm-up's ("room to spare"): its first TLS handshakes to 64 nodes are not what is
# tested. Under DEADLINE_S, on a machine whose cores two busy loops kept busy, its outcome was
# logged 126 ms after its fan-out was due to end, against a reserve of 94 ms: it failed before
# the queries under test were sent, every time.
WARM_UP_DEADLINE_S = 10.0
WINDOW_S = 3 * 86_400
SIGHTINGS = 300  # per node: the national benchmark's small databases
FAULTY = (gateway_pb2.OUTCOME_TIMED_OUT, gateway_pb2.OUTCOME_UNAVAILABLE)


@dataclass(frozen=True)
class Federation:
    running: Running
    agencies: list[str]
    hanging: frozenset[str]
    now: int


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    now = SYSTEM_CLOCK.now()
    agencies = node_ids(NODES)
    hanging = frozenset(agencies) - frozenset(agencies[::HEALTHY_EVERY])
    layout = write_layout(tmp_path_factory.mktemp("reserve") / "fed", NODES)
    healthy = [a for a in agencies if a not in hanging]
    seed_by_copies(layout, healthy, templates=2, sightings=SIGHTINGS, seed=15, now=now)
    with running_federation(layout, agencies, now=now, hanging=hanging) as running:
        yield Federation(running, agencies, hanging, now)


def ask_at_once(
    federation: Federation, count: int, deadline_s: float = DEADLINE_S
) -> list[gateway_pb2.QueryResponse]:
    """``count`` of officer-garcia's warranted queries to every agency, sent at once under
    ``deadline_s``; raises the first query's error (DEADLINE_EXCEEDED before the fix)."""
    layout = federation.running.layout
    tls = person_tls(layout, REQUESTER_AGENCY, REQUESTER_OFFICER)
    request = warranted_request(federation.running, federation.now, WINDOW_S, federation.agencies)
    with secure_channel(f"{HOST}:{federation.running.gateway_port}", tls) as channel:
        stub = gateway_pb2_grpc.GatewayStub(channel)
        with ThreadPoolExecutor(count) as pool:
            calls = [pool.submit(stub.Query, request, timeout=deadline_s) for _ in range(count)]
            return [call.result() for call in calls]


def outcome_entry(layout: Layout, query_id: str) -> dict[str, Any]:
    reader = LedgerReader.open_readonly(f"sqlite:///{layout.gateway_config.parent / 'gateway.db'}")
    try:
        (entry,) = [
            e
            for e in iter_entries(reader, kinds=["query_outcome"])
            if e.body["query_id"] == query_id
        ]
    finally:
        reader.close()
    return entry.body


def test_queries_of_64_agencies_with_hanging_nodes_get_partial_answers_in_time(
    federation: Federation,
) -> None:
    layout = federation.running.layout
    # Channels, caches and the nodes' first searches, under a deadline with room to spare.
    ask_at_once(federation, 1, deadline_s=WARM_UP_DEADLINE_S)
    try:
        answers = ask_at_once(federation, QUERIES)
    except grpc.RpcError as exc:
        pytest.fail(f"the officer got {exc.code().name} instead of a partial answer")
    vkey = NoteVerifier.from_vkey(layout.vkey_file.read_text().strip())
    with_results = 0
    for answer in answers:
        found = {o.agency_id: o for o in answer.outcomes}
        assert set(found) == set(federation.agencies)
        assert not answer.complete
        for agency in federation.hanging:
            assert found[agency].outcome in FAULTY, found[agency]
            assert found[agency].detail  # says why: no answer within the node's timeout
            assert not found[agency].sightings
        # A healthy node answers, or is late on this loaded machine; nothing else.
        for agency in set(federation.agencies) - federation.hanging:
            outcome = found[agency].outcome
            assert outcome in (gateway_pb2.OUTCOME_RESULTS, gateway_pb2.OUTCOME_TIMED_OUT)
            if outcome == gateway_pb2.OUTCOME_RESULTS:
                assert found[agency].sightings
                with_results += 1
        # The receipt: the query's decision, on a checkpoint signed with the ledger's key.
        receipt = verify_tlog_proof(answer.ledger_proof, [vkey], origin=layout.spec.origin)
        assert receipt.entry.kind == "query_decision"
        assert receipt.entry.body["query_id"] == answer.query_id
        # Fail closed: the outcome the officer sees was logged before it was sent.
        logged = outcome_entry(layout, answer.query_id)
        recorded = {o["agency"]: o["outcome"] for o in logged["outcomes"]}
        assert recorded == {
            a: gateway_pb2.Outcome.Name(o.outcome).removeprefix("OUTCOME_").lower()
            for a, o in found.items()
        }
    assert with_results > 0  # a partial answer, not only timeouts
