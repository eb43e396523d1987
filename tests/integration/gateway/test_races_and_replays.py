"""Racing and repeated requests: the ledger records exactly the acts that took effect.

Attacks, for real, on a running gateway over mTLS: six clerks' requests for one warrant sent at
once, the same request sent again after its answer was lost, a node's signed purge report
replayed or rewritten. (That an act and its record commit together or not at all is tested on
the store: tests/integration/ledger/test_ledger_store.py.)
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import grpc
import pytest
from federations import NODES, SUSPECT, Federation

from alprfed import wire
from alprfed.client import exigent_approval_request as approval_request
from alprfed.messages import PurgeReport
from alprfed.signing import PURGE_REPORT_TYPE, Envelope, SigningKey
from alprfed.v1 import gateway_pb2

RACERS = 6


def race(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once; each result is the answer or the grpc.RpcError it raised."""

    def attempt(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except grpc.RpcError as exc:
            return exc

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(attempt, calls))


def codes(results: list[Any]) -> list[grpc.StatusCode]:
    return sorted(
        (r.code() if isinstance(r, grpc.RpcError) else grpc.StatusCode.OK for r in results),
        key=lambda code: code.name,
    )


def revoke(federation: Federation, warrant_id: str, reason: str) -> Callable[[], Any]:
    stub = federation.stub(*federation.clerk_of("santa-clara-superior"))
    request = gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason=reason)
    return lambda: stub.RevokeWarrant(request, timeout=20)


def test_racing_registrations_of_one_warrant_id_log_exactly_one_entry(
    federation: Federation,
) -> None:
    # Six different court-signed documents claiming one id, sent at once.
    warrant_id = "w-race-distinct"
    envelopes = [
        federation.sign_warrant(warrant_id=warrant_id, judge=f"Hon. J{i}") for i in range(RACERS)
    ]
    results = race([lambda e=e: federation.register(e) for e in envelopes])
    assert codes(results) == [grpc.StatusCode.ALREADY_EXISTS] * (RACERS - 1) + [grpc.StatusCode.OK]
    logged = federation.logged("warrant_registered", "warrant_id", warrant_id)
    (winner,) = [r for r in results if not isinstance(r, grpc.RpcError)]
    assert [e.index for e in logged] == [winner.ledger_index]


def test_the_same_warrant_sent_at_once_and_again_is_registered_and_logged_once(
    federation: Federation,
) -> None:
    envelope = federation.sign_warrant(warrant_id="w-race-same")
    results = race([lambda: federation.register(envelope)] * RACERS)
    # A retry (an answer lost to a crash or a timeout) is not an error: it gets the answer.
    retried = federation.register(envelope)
    assert codes(results) == [grpc.StatusCode.OK] * RACERS
    assert {r.ledger_index for r in results} == {retried.ledger_index}
    logged = federation.logged("warrant_registered", "warrant_id", "w-race-same")
    assert [e.index for e in logged] == [retried.ledger_index]


def test_racing_revocations_log_exactly_one_entry(federation: Federation) -> None:
    warrant_id = federation.warrant()
    results = race([revoke(federation, warrant_id, f"reason {i}") for i in range(RACERS)])
    assert codes(results) == [grpc.StatusCode.FAILED_PRECONDITION] * (RACERS - 1) + [
        grpc.StatusCode.OK
    ]
    (winner,) = [r for r in results if not isinstance(r, grpc.RpcError)]
    logged = federation.logged("warrant_revoked", "warrant_id", warrant_id)
    assert len(logged) == 1
    assert logged[0].body["reason"] == winner.revoked_reason


def test_a_revocation_sent_again_is_answered_and_not_logged_again(federation: Federation) -> None:
    warrant_id = federation.warrant()
    first = revoke(federation, warrant_id, "case closed")()
    again = revoke(federation, warrant_id, "case closed")()
    assert (again.revoked, again.revoked_reason) == (True, "case closed")
    assert first.revoked_at == again.revoked_at
    assert len(federation.logged("warrant_revoked", "warrant_id", warrant_id)) == 1
    # A different revocation of a revoked warrant is still refused, and not logged.
    with pytest.raises(grpc.RpcError) as refused:
        revoke(federation, warrant_id, "another reason")()
    assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert len(federation.logged("warrant_revoked", "warrant_id", warrant_id)) == 1


def purge_report(federation: Federation, agency: str, ran_at: int, deleted: int) -> Envelope:
    key = SigningKey.load(federation.layout.node_config(agency).parent / "node-key.pem")
    report = PurgeReport(
        node=agency,
        state="CA",
        cutoff=ran_at - 86_400,
        retention_seconds=86_400,
        deleted_sightings=deleted,
        ran_at=ran_at,
    )
    return key.sign_envelope(PURGE_REPORT_TYPE, report.to_canonical())


def send_purge(federation: Federation, envelope: Envelope) -> Callable[[], Any]:
    stub = federation.stub("sjpd", "node")
    request = gateway_pb2.ReportPurgeRequest(report=wire.envelope_to_pb(envelope))
    return lambda: stub.ReportPurge(request, timeout=20)


def test_a_replayed_purge_report_is_recorded_once(federation: Federation) -> None:
    assert "sjpd" in NODES
    ran_at = federation.now + 1_000
    envelope = purge_report(federation, "sjpd", ran_at, deleted=17)
    results = race([send_purge(federation, envelope)] * RACERS)
    replayed = send_purge(federation, envelope)()
    assert codes(results) == [grpc.StatusCode.OK] * RACERS
    assert {r.ledger_index for r in results} == {replayed.ledger_index}
    logged = federation.logged("retention_purge", "ran_at", ran_at)
    assert [e.index for e in logged] == [replayed.ledger_index]


def test_a_second_report_for_the_same_purge_run_is_refused(federation: Federation) -> None:
    ran_at = federation.now + 2_000
    send_purge(federation, purge_report(federation, "sjpd", ran_at, deleted=5))()
    with pytest.raises(grpc.RpcError) as refused:
        # Validly signed by the node, but it rewrites what the first report said.
        send_purge(federation, purge_report(federation, "sjpd", ran_at, deleted=0))()
    assert refused.value.code() == grpc.StatusCode.ALREADY_EXISTS
    logged = federation.logged("retention_purge", "ran_at", ran_at)
    assert [e.body["deleted_sightings"] for e in logged] == [5]


def test_a_replayed_exigent_consent_makes_no_second_approval(federation: Federation) -> None:
    supervisor = ("sjpd", "sgt-nguyen")
    request = approval_request(
        officer="officer-garcia",
        plate=SUSPECT,
        purpose="amber_alert",
        case_number="SJ-AMBER-RACE",
        note="replayed consent",
        tls=federation.tls(*supervisor),
    )
    stub = federation.stub(*supervisor)
    results = race([lambda: stub.ApproveExigent(request, timeout=20)] * RACERS)
    assert codes(results) == [grpc.StatusCode.OK] * RACERS
    assert len({r.approval_id for r in results}) == 1
    assert len({r.ledger_index for r in results}) == 1
    logged = federation.logged("exigent_approved", "case_number", "SJ-AMBER-RACE")
    assert [e.body["approval_id"] for e in logged] == [results[0].approval_id]
