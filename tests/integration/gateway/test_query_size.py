"""How many agencies one query may address: every decision and outcome must fit one entry.

A ledger entry is at most 65,535 bytes (C2SP tlog-tiles). A query to more agencies than its
outcome entry can record used to be decided, logged and sent, and the nodes searched; then the
outcome append was refused, after the sightings had left the nodes. Now the gateway refuses
such a query before any gate runs, and MAX_TARGETS is low enough that the largest decision and
outcome the gateway writes for it fit, in a real ledger.
"""

from __future__ import annotations

import asyncio
import string
from pathlib import Path

import grpc
import pytest
from gateways import running_gateway

from alprfed.clock import FixedClock
from alprfed.errors import InvalidRequest
from alprfed.ledger import LedgerStore, LedgerWriter, iter_entries
from alprfed.ledger.entry import MAX_ENTRY_BYTES
from alprfed.ledger.reader import LedgerReader
from alprfed.messages import Outcome
from alprfed.messages.search import SearchReceipt
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.decision import AgencyDecision, QueryDecision, QueryFacts
from alprfed.query import MAX_TARGETS, AgencyOutcome, QueryInput, query_targets
from alprfed.rpc.identity import Identity, PrincipalKind
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SEARCH_RECEIPT_TYPE, SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from alprfed.wire import gateway as gwire
from bench.federation import (
    REQUESTER_AGENCY,
    REQUESTER_OFFICER,
    node_ids,
    person_tls,
    write_layout,
)
from gateway.audit import AuditTrail
from gateway.outcomes import MAX_RECORDED_DETAIL, outcome_record

NOW = 1_764_000_000
LONGEST_ID = 64  # alprfed.models.check_identifier
# Rule ids as long as the law packs' longest (36 characters), three refusing at once.
RULES = tuple(f"XX-{'9' * 10}-{letter * 22}" for letter in "abc")


def longest_ids(count: int) -> list[str]:
    """``count`` distinct agency ids of the longest length an id may have."""
    return [
        f"{number:04d}".rjust(LONGEST_ID, string.ascii_lowercase[number % 26])
        for number in range(count)
    ]


def largest_decision(agencies: list[str]) -> tuple[QueryFacts, QueryDecision]:
    facts = QueryFacts(
        officer="o" * LONGEST_ID,
        agency="a" * LONGEST_ID,
        plate="8FXR413",
        window=TimeWindow(NOW - 86_400, NOW),
        purpose=Purpose.ROBBERY,
        case_number="C" * 64,
        warrant_id="w" * LONGEST_ID,
        exigent_approval_id=None,
        targets=tuple(agencies),
        now=NOW,
    )
    refusals = tuple(
        AgencyDecision(a, allowed=False, reasons=(), rules_applied=RULES * 3) for a in agencies
    )
    return facts, QueryDecision(authority="warrant", agencies=refusals)


def largest_outcomes(agencies: list[str]) -> list[AgencyOutcome]:
    """Every node refused by its law with a signed receipt citing the rules, and a detail far
    longer than any the gateway writes."""
    key = SigningKey.generate()
    outcomes = []
    for agency in agencies:
        receipt = SearchReceipt("q" * 32, agency, 999_999, "d" * 64, RULES, NOW)
        envelope = key.sign_envelope(SEARCH_RECEIPT_TYPE, receipt.to_canonical())
        outcomes.append(
            AgencyOutcome(
                agency, agency, "CA", Outcome.DENIED, receipt=envelope, detail="x" * 5_000
            )
        )
    return outcomes


def record_query(store: LedgerStore, agencies: list[str]) -> None:
    """The decision and outcome entries the gateway writes for a query to ``agencies``.

    Raises: InvalidRequest when the ledger refuses one as too large."""
    facts, decision = largest_decision(agencies)

    async def scenario() -> None:
        writer = LedgerWriter(store)
        audit = AuditTrail(writer)
        try:
            entry = await audit.query_decision(
                query_id="q" * 32,
                identity=Identity("o" * LONGEST_ID, "a" * LONGEST_ID, PrincipalKind.PERSON),
                facts=facts,
                purpose_note="n" * 500,
                decision=decision,
                bundle_sha256="b" * 64,
                warrant_entry=10**12,
                warrant_plate_slot=63,
                approval_entry=None,
                approval_plate_slot=None,
            )
            await audit.query_outcome(
                query_id="q" * 32,
                decision_entry=entry,
                outcomes=[outcome_record(o) for o in largest_outcomes(agencies)],
                complete=False,
                flagged_for_review=False,
                answered_at=NOW,
            )
        finally:
            await writer.close()

    asyncio.run(scenario())


@pytest.fixture
def store(sqlite_url: str) -> LedgerStore:
    return LedgerStore.open(
        sqlite_url, origin="test.example/log", signer=SigningKey.generate(), clock=FixedClock(NOW)
    )


def test_the_largest_query_of_max_targets_agencies_is_recorded_whole(store: LedgerStore) -> None:
    try:
        record_query(store, longest_ids(MAX_TARGETS))
        entries = list(iter_entries(store, kinds=["query_decision", "query_outcome"]))
    finally:
        store.close()
    assert [e.kind for e in entries] == ["query_decision", "query_outcome"]
    assert all(len(e.data) <= MAX_ENTRY_BYTES for e in entries)
    assert len(entries[1].body["outcomes"]) == MAX_TARGETS
    outcome = entries[1].body["outcomes"][0]
    assert outcome["receipt"]["payload"]["refused_rules"] == list(RULES)
    assert len(outcome["detail"]) == MAX_RECORDED_DETAIL  # cut, so any detail fits


def test_twice_max_targets_would_not_fit_so_the_bound_is_what_keeps_outcomes_whole(
    store: LedgerStore,
) -> None:
    try:
        with pytest.raises(InvalidRequest, match="exceeds"):
            record_query(store, longest_ids(2 * MAX_TARGETS))
    finally:
        store.close()


def test_naming_more_agencies_than_one_query_may_is_refused_with_the_bound() -> None:
    with pytest.raises(InvalidRequest, match=f"at most {MAX_TARGETS}") as refused:
        QueryInput.create(
            plate="8FXR413",
            window_from=NOW - 60,
            window_to=NOW,
            purpose=Purpose.ROBBERY,
            case_number="C-1",
            agencies=tuple(longest_ids(MAX_TARGETS + 1)),
        )
    assert refused.value.field == "agencies"


def test_a_query_naming_no_agency_addresses_every_node_up_to_the_bound() -> None:
    query = QueryInput.create(
        plate="8FXR413", window_from=NOW - 60, window_to=NOW, purpose=Purpose.ROBBERY,
        case_number="C-1",
    )  # fmt: skip
    nodes = longest_ids(MAX_TARGETS + 1)
    assert query_targets(query, nodes[:MAX_TARGETS]) == tuple(nodes[:MAX_TARGETS])
    with pytest.raises(InvalidRequest, match=f"has {MAX_TARGETS + 1} nodes"):
        query_targets(query, nodes)
    named = QueryInput.create(
        plate="8FXR413", window_from=NOW - 60, window_to=NOW, purpose=Purpose.ROBBERY,
        case_number="C-1", agencies=(nodes[0],),
    )  # fmt: skip
    assert query_targets(named, nodes) == (nodes[0],)


def test_a_gateway_of_more_nodes_than_one_query_may_address_refuses_before_deciding(
    tmp_path: Path,
) -> None:
    """No node runs: a refusal before the gates asks none. The refusal is a rejected request
    in the ledger, and a query naming its agencies is decided as usual."""
    layout = write_layout(tmp_path / "federation", MAX_TARGETS + 1)
    with running_gateway(layout) as gateway:
        channel = secure_channel(
            f"localhost:{gateway.port}", person_tls(layout, REQUESTER_AGENCY, REQUESTER_OFFICER)
        )
        stub = gateway_pb2_grpc.GatewayStub(channel)
        request = gateway_pb2.QueryRequest(
            plate="8FXR413", window_from=NOW - 60, window_to=NOW, purpose="robbery",
            case_number="C-1",
        )  # fmt: skip
        try:
            with pytest.raises(grpc.RpcError) as refused:
                stub.Query(request, timeout=30)
            named = stub.Query(
                gateway_pb2.QueryRequest(
                    plate="8FXR413", window_from=NOW - 60, window_to=NOW, purpose="robbery",
                    case_number="C-1", agencies=node_ids(2),
                ),
                timeout=30,
            )  # fmt: skip
        finally:
            channel.close()
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert f"has {MAX_TARGETS + 1} nodes" in str(refused.value.details())
    assert f"at most {MAX_TARGETS}" in str(refused.value.details())
    answer = gwire.answer_from_pb(named)
    assert [o.agency_id for o in answer.outcomes] == node_ids(2)
    assert {o.outcome for o in answer.outcomes} == {Outcome.DENIED}  # no warrant cited
    reader = LedgerReader.open_readonly(f"sqlite:///{layout.gateway_config.parent / 'gateway.db'}")
    try:
        rejected = list(iter_entries(reader, kinds=["query_rejected"]))
        decided = list(iter_entries(reader, kinds=["query_decision"]))
    finally:
        reader.close()
    assert len(rejected) == 1
    assert "agencies" in rejected[0].body["error"]
    assert [d.body["targets"] for d in decided] == [node_ids(2)]
