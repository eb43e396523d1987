"""The three gates against a running federation over mutual TLS, each failing alone.

Nodes: San Jose PD (CA), Chicago PD (IL, San Jose has an Illinois declaration on file), Norfolk
PD (VA). Every refusal must name its rule, and law refusals their state and statute.
"""

from __future__ import annotations

import grpc
import pytest
from federations import DAY, SUSPECT, Federation

from alprfed.ledger import NoteVerifier, verify_tlog_proof
from alprfed.ledger.merkle import leaf_hash
from alprfed.ledger.tlog_proof import TlogProofError
from alprfed.messages import Outcome
from alprfed.models import Purpose, TimeWindow
from alprfed.query import QueryAnswer
from alprfed.rpc.identity import INSECURE_IDENTITY_HEADER


def by_agency(answer: QueryAnswer) -> dict[str, tuple[Outcome, list[str]]]:
    return {o.agency_id: (o.outcome, [r.rule_id for r in o.reasons]) for o in answer.outcomes}


def gates(answer: QueryAnswer, agency: str) -> set[str]:
    return {r.gate for o in answer.outcomes if o.agency_id == agency for r in o.reasons}


def test_lawful_query_returns_sightings_from_two_states_with_citations(
    federation: Federation,
) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    outcomes = {o.agency_id: o for o in answer.outcomes}
    assert outcomes["sjpd"].outcome == Outcome.RESULTS
    assert outcomes["chicago-pd"].outcome == Outcome.RESULTS
    assert outcomes["sjpd"].sightings
    assert outcomes["chicago-pd"].sightings
    assert {s.plate for o in answer.outcomes for s in o.sightings} == {SUSPECT}
    # Va. Code 2.2-5517: Virginia data stays with Virginia agencies.
    norfolk = outcomes["norfolk-pd"]
    assert norfolk.outcome == Outcome.DENIED
    assert [r.state for r in norfolk.reasons] == ["VA"]
    assert "2.2-5517" in norfolk.reasons[0].citation
    assert norfolk.reasons[0].explain().startswith("denied by VA — Va. Code 2.2-5517")
    assert answer.complete


def test_the_answer_carries_a_receipt_that_verifies_offline(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    verifier = NoteVerifier.from_vkey(federation.layout.vkey_file.read_text().strip())
    receipt = verify_tlog_proof(
        answer.ledger_proof, [verifier], origin=federation.layout.spec.origin
    )
    # The receipt proves the decision, logged before any node was asked; the outcome entry
    # at ledger_index is durable when the answer arrives and names that decision.
    assert receipt.entry.kind == "query_decision"
    assert receipt.entry.body["query_id"] == answer.query_id
    (outcome,) = federation.logged("query_outcome", "query_id", answer.query_id)
    assert outcome.index == answer.ledger_index
    assert outcome.body["decision_entry"] == receipt.entry.index
    assert outcome.body["decision_leaf_hash"] == leaf_hash(receipt.entry.data).hex()
    # No plate in clear anywhere in the entry.
    assert SUSPECT not in answer.ledger_proof
    tampered = answer.ledger_proof.replace("index ", "index 1", 1)
    with pytest.raises(TlogProofError):
        verify_tlog_proof(tampered, [verifier], origin=federation.layout.spec.origin)


def test_without_a_warrant_the_query_goes_nowhere(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia")
    for outcome, rules in by_agency(answer).values():
        assert outcome == Outcome.DENIED
        assert "warrant.required" in rules


def test_casbin_alone_refuses_a_person_without_a_query_role(federation: Federation) -> None:
    # records-clerk is a real sjpd person with a valid certificate but no role.
    answer = federation.query("sjpd", "records-clerk", warrant_id=federation.warrant())
    assert by_agency(answer)["sjpd"] == (Outcome.DENIED, ["casbin:query.create"])
    assert gates(answer, "sjpd") == {"casbin"}


def test_law_alone_refuses_virginia_while_the_others_answer(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    assert gates(answer, "norfolk-pd") == {"law"}
    assert gates(answer, "sjpd") == set()


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"plate": "7XYZ999"}, "warrant.plate-listed"),
        ({"window_from_days": 10}, "warrant.window-inside"),
        ({"purpose": Purpose.HOMICIDE}, "warrant.purpose-matches-offense"),
    ],
)
def test_warrant_scope_alone(federation: Federation, fields: dict[str, object], rule: str) -> None:
    warrant = federation.warrant()
    query: dict[str, object] = {"warrant_id": warrant}
    if "window_from_days" in fields:
        query["window_from"] = federation.now - int(fields.pop("window_from_days")) * DAY
    query.update(fields)
    answer = federation.query("sjpd", "officer-garcia", **query)
    outcome, rules = by_agency(answer)["sjpd"]
    assert outcome == Outcome.DENIED
    assert rules == [rule]
    assert gates(answer, "sjpd") == {"warrant"}


def test_warrant_target_limits(federation: Federation) -> None:
    from alprfed.policy.warrants import WarrantLimits

    warrant = federation.warrant(limits=WarrantLimits(states=frozenset({"CA"})))
    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    assert by_agency(answer)["sjpd"][0] == Outcome.RESULTS
    assert by_agency(answer)["chicago-pd"] == (Outcome.DENIED, ["warrant.target-limits"])


def test_an_officer_cannot_use_another_agencys_warrant(federation: Federation) -> None:
    # ICE's federal warrant (a California court could not authorize Chicago at all).
    warrant = federation.warrant(court="us-district-dc", agency="ice-ero")
    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    assert all("warrant.same-agency" in rules for _, rules in by_agency(answer).values())


def test_identity_comes_from_the_certificate_not_from_metadata(federation: Federation) -> None:
    # Claiming to be an ICE agent in metadata changes nothing: the certificate says sjpd.
    warrant = federation.warrant(court="us-district-dc", agency="ice-ero")
    answer = federation.query(
        "sjpd",
        "officer-garcia",
        warrant_id=warrant,
        metadata=((INSECURE_IDENTITY_HEADER, "person:ice-ero/agent-reyes"),),
    )
    assert all("warrant.same-agency" in rules for _, rules in by_agency(answer).values())


def test_revoked_warrant(federation: Federation) -> None:
    from alprfed.v1 import gateway_pb2

    warrant = federation.warrant()
    federation.stub("santa-clara-superior", "clerk-lee").RevokeWarrant(
        gateway_pb2.RevokeWarrantRequest(warrant_id=warrant, reason="suspect in custody"),
        timeout=10,
    )
    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    assert all("warrant.not-revoked" in rules for _, rules in by_agency(answer).values())


def test_a_warrant_that_expires_after_registration_stops_authorizing(
    federation: Federation,
) -> None:
    import time

    warrant = federation.warrant(expires_at=int(time.time()) + 2)
    time.sleep(3)  # a correctness wait for the expiry, not a timing assertion
    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    assert all("warrant.unexpired" in rules for _, rules in by_agency(answer).values())


def test_a_camera_certificate_cannot_query(federation: Federation) -> None:
    from alprfed.pki import issue
    from alprfed.rpc.identity import PrincipalKind

    # A camera named like an officer, of the officer's own agency.
    issue(
        federation.layout.pki,
        organization="sjpd",
        kind=PrincipalKind.CAMERA,
        principal="officer-garcia-cam",
    )
    answer = federation.query("sjpd", "officer-garcia-cam", warrant_id=federation.warrant())
    assert all("request.person" in rules for _, rules in by_agency(answer).values())
    assert not answer.sightings_total()


def test_unregistered_warrant(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id="w-never-registered")
    assert all("warrant.registered" in rules for _, rules in by_agency(answer).values())
    assert by_agency(answer)["sjpd"] == (Outcome.DENIED, ["warrant.registered"])


def test_immigration_enforcement_is_refused_by_state_law_with_citations(
    federation: Federation,
) -> None:
    warrant = federation.warrant(
        court="us-district-dc", agency="ice-ero", offense=Purpose.IMMIGRATION_ENFORCEMENT
    )
    answer = federation.query(
        "ice-ero",
        "agent-reyes",
        warrant_id=warrant,
        purpose=Purpose.IMMIGRATION_ENFORCEMENT,
        case_number="ERO-1",
    )
    outcomes = {o.agency_id: o for o in answer.outcomes}
    assert {o.outcome for o in outcomes.values()} == {Outcome.DENIED}
    # Each state's own law refuses, citing its statute; the federation agreement concurs.
    assert {r.state for r in outcomes["sjpd"].reasons} == {"CA", "federation"}
    assert {r.state for r in outcomes["chicago-pd"].reasons} == {"IL", "federation"}
    assert any("2-130" in r.citation for r in outcomes["chicago-pd"].reasons)
    assert all(r.citation for o in outcomes.values() for r in o.reasons)


def test_out_of_state_reproductive_health_care_query_is_refused(federation: Federation) -> None:
    warrant = federation.warrant(
        court="johnson-county-district",
        agency="johnson-county-so",
        plates=("CDK4417",),
        offense=Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
    )
    answer = federation.query(
        "johnson-county-so",
        "deputy-hale",
        warrant_id=warrant,
        plate="CDK4417",
        purpose=Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
        case_number="JC-2026-7",
    )
    assert {o.outcome for o in answer.outcomes} == {Outcome.DENIED}
    assert all(o.reasons and all(r.gate == "law" for r in o.reasons) for o in answer.outcomes)


def test_malformed_requests_get_invalid_argument_and_are_recorded(federation: Federation) -> None:
    from alprfed.v1 import gateway_pb2

    stub = federation.stub("sjpd", "officer-garcia")
    base = dict(
        plate=SUSPECT,
        window_from=federation.now - DAY,
        window_to=federation.now,
        purpose="robbery",
        case_number="C-1",
        warrant_id="w-x",
    )
    for bad in (
        {"plate": "7AB#123"},
        {"purpose": "curiosity"},
        {"case_number": ""},
        {"window_from": federation.now, "window_to": federation.now - DAY},
        {"window_to": 4_102_444_800},  # 2100: sightings are never in the future
        {"window_from": federation.now - 900 * DAY},  # absurdly long
        {"warrant_id": "Not An Id"},
    ):
        with pytest.raises(grpc.RpcError) as excinfo:
            stub.Query(gateway_pb2.QueryRequest(**(base | bad)), timeout=10)
        assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert excinfo.value.details()


def test_a_client_certificate_from_an_unknown_ca_is_refused(
    federation: Federation, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    from alprfed.pki import init_pki, issue
    from alprfed.rpc.identity import PrincipalKind
    from alprfed.rpc.tls import secure_channel
    from alprfed.v1 import gateway_pb2, gateway_pb2_grpc

    rogue = tmp_path / "rogue"
    init_pki(rogue, organizations=["sjpd"])
    cred = issue(rogue, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-garcia")
    # The rogue client trusts the real root, so only the gateway's check can refuse it.
    tls = cred.tls().__class__(ca=federation.layout.pki / "ca.pem", cert=cred.cert, key=cred.key)
    stub = gateway_pb2_grpc.GatewayStub(secure_channel(f"localhost:{federation.gateway.port}", tls))
    with pytest.raises(grpc.RpcError) as excinfo:
        stub.Query(gateway_pb2.QueryRequest(plate=SUSPECT), timeout=10)
    assert excinfo.value.code() == grpc.StatusCode.UNAVAILABLE


def test_window_for_a_warrant_is_inclusive(federation: Federation) -> None:
    window = TimeWindow(federation.now - 7 * DAY, federation.now)
    warrant = federation.warrant(window=window)
    answer = federation.query(
        "sjpd", "officer-garcia", warrant_id=warrant, window_from=window.start, window_to=window.end
    )
    assert by_agency(answer)["sjpd"][0] == Outcome.RESULTS


def test_gateway_health_reports_serving(federation: Federation) -> None:
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    from alprfed.rpc.tls import secure_channel

    channel = secure_channel(
        f"localhost:{federation.gateway.port}", federation.tls("sjpd", "officer-garcia")
    )
    for service in ("", "alprfed.v1.Gateway", "alprfed.v1.Ledger"):
        reply = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(service=service), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
