"""Warrant registration and exigent queries: who may do what, and what is refused."""

from __future__ import annotations

import grpc
import pytest
from federations import DAY, SUSPECT, Federation

from alprfed import canonical, wire
from alprfed.client import exigent_approval_request as approval_request
from alprfed.messages import Outcome
from alprfed.models import Purpose
from alprfed.policy.warrants import Warrant
from alprfed.signing import WARRANT_TYPE, SigningKey
from alprfed.v1 import gateway_pb2


def register_error(
    federation: Federation, envelope: object, clerk: tuple[str, str] | None = None
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.register(envelope, clerk=clerk)  # type: ignore[arg-type]
    return excinfo.value


def test_a_forged_warrant_is_refused(federation: Federation) -> None:
    forged = federation.sign_warrant(key=SigningKey.generate())  # not the court's key
    error = register_error(federation, forged)
    # The clerk is authenticated; the document is what failed, and the clerk is told why.
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a warrant this federation accepts" in error.details()


def test_a_warrant_signed_by_one_court_but_naming_another_is_refused(
    federation: Federation,
) -> None:
    other_court_key = SigningKey.load(federation.layout.court_key("norfolk-circuit"))
    envelope = federation.sign_warrant(court="santa-clara-superior", key=other_court_key)
    error = register_error(federation, envelope)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not signed by santa-clara-superior" in error.details()


def test_only_court_clerks_register_and_only_their_own_courts_warrants(
    federation: Federation,
) -> None:
    envelope = federation.sign_warrant()
    officer = register_error(federation, envelope, clerk=("sjpd", "officer-garcia"))
    assert officer.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "casbin" in officer.details()
    other = register_error(federation, envelope, clerk=("norfolk-circuit", "clerk-adams"))
    assert other.code() == grpc.StatusCode.PERMISSION_DENIED


def test_a_state_court_cannot_authorize_another_states_agency(federation: Federation) -> None:
    # Santa Clara's superior court signs (validly) for the Johnson County, Texas sheriff.
    envelope = federation.sign_warrant("santa-clara-superior", agency="johnson-county-so")
    error = register_error(federation, envelope)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    details = error.details()
    assert "santa-clara-superior" in details
    assert "state court" in details
    assert "johnson-county-so" in details
    assert "TX" in details
    assert "no jurisdiction" in details


def test_a_state_court_cannot_authorize_a_federal_agency(federation: Federation) -> None:
    envelope = federation.sign_warrant("santa-clara-superior", agency="ice-ero")
    error = register_error(federation, envelope)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "ice-ero (federal agency, DC)" in error.details()


def test_a_federal_court_authorizes_a_federal_agency(federation: Federation) -> None:
    status = federation.register(federation.sign_warrant("us-district-dc", agency="ice-ero"))
    assert status.ledger_index > 0
    assert not status.revoked


def test_a_federal_court_cannot_authorize_a_local_agency_outside_its_district(
    federation: Federation,
) -> None:
    # The District of Columbia's federal court over San Jose: CA is not its district's state.
    error = register_error(federation, federation.sign_warrant("us-district-dc", agency="sjpd"))
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "us-district-dc (federal court, DC)" in error.details()
    assert "sjpd (local agency, CA)" in error.details()


def test_a_version_1_warrant_is_refused_asking_for_reissue(federation: Federation) -> None:
    payload = Warrant.from_canonical(
        canonical.decode(federation.sign_warrant().payload)
    ).to_canonical()
    del payload["salt"], payload["prospective"]
    payload["v"] = 1
    court_key = SigningKey.load(federation.layout.court_key("santa-clara-superior"))
    error = register_error(federation, court_key.sign_envelope(WARRANT_TYPE, payload))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a version 2 warrant" in error.details()
    assert "re-issue" in error.details()


def test_a_warrant_lying_about_being_prospective_is_refused(federation: Federation) -> None:
    # A tracking warrant (its window reaches a day past issuance) marked historical, so a
    # state refusing prospective warrants would be fooled: refused before it is registered.
    genuine = Warrant.from_canonical(canonical.decode(federation.sign_warrant().payload))
    payload = genuine.to_canonical()
    payload["window"] = [genuine.window.start, genuine.issued_at + DAY]
    payload["prospective"] = False
    court_key = SigningKey.load(federation.layout.court_key("santa-clara-superior"))
    error = register_error(federation, court_key.sign_envelope(WARRANT_TYPE, payload))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "prospective exactly when its window ends after it is issued" in error.details()


def test_a_warrant_is_registered_once(federation: Federation) -> None:
    envelope = federation.sign_warrant()
    first = federation.register(envelope)
    # Sent again (its answer lost), the same document gets the same registration back...
    assert federation.register(envelope).ledger_index == first.ledger_index
    # ...but another document claiming its id is refused.
    other = federation.sign_warrant(warrant_id=first.warrant_id, judge="Hon. B. Other")
    assert register_error(federation, other).code() == grpc.StatusCode.ALREADY_EXISTS


def test_show_and_revoke(federation: Federation) -> None:
    warrant_id = federation.warrant()
    clerk = federation.stub("santa-clara-superior", "clerk-lee")
    shown = federation.stub("sjpd", "officer-garcia").GetWarrant(
        gateway_pb2.GetWarrantRequest(warrant_id=warrant_id), timeout=10
    )
    assert not shown.revoked
    revoked = clerk.RevokeWarrant(
        gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason="case closed"), timeout=10
    )
    assert revoked.revoked
    assert revoked.revoked_reason == "case closed"
    with pytest.raises(grpc.RpcError) as excinfo:
        clerk.RevokeWarrant(
            gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason="again"), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("sjpd", "officer-garcia").GetWarrant(
            gateway_pb2.GetWarrantRequest(warrant_id="w-missing"), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.NOT_FOUND


def approve(federation: Federation, **fields: str) -> gateway_pb2.ExigentApproval:
    if "officer_id" in fields:
        fields["officer"] = fields.pop("officer_id")
    return federation.approve_exigent(**fields)


def test_an_approval_without_the_supervisors_signed_consent_is_refused(
    federation: Federation,
) -> None:
    unsigned = gateway_pb2.ApproveExigentRequest(
        officer_id="officer-garcia", plate=SUSPECT, purpose="amber_alert", case_number="X"
    )
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("sjpd", "sgt-nguyen").ApproveExigent(unsigned, timeout=10)
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "consent" in (excinfo.value.details() or "")


def test_a_consent_signed_by_someone_else_is_refused(federation: Federation) -> None:
    """The officer signs the consent with their own key; the sergeant sends it."""
    forged = approval_request(
        officer="officer-garcia",
        plate=SUSPECT,
        purpose="amber_alert",
        case_number="X",
        note="",
        tls=federation.tls("sjpd", "officer-garcia"),
    )
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("sjpd", "sgt-nguyen").ApproveExigent(forged, timeout=10)
    assert excinfo.value.code() in (
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
    )


def test_exigent_query_with_a_supervisors_co_approval_is_flagged_for_review(
    federation: Federation,
) -> None:
    approval = approve(federation)
    answer = federation.query(
        "sjpd",
        "officer-garcia",
        exigent_approval_id=approval.approval_id,
        purpose=Purpose.AMBER_ALERT,
        case_number="SJ-AMBER-1",
        window_from=federation.now - 48 * 3600,
    )
    outcomes = {o.agency_id: o for o in answer.outcomes}
    assert outcomes["sjpd"].outcome == Outcome.RESULTS
    assert answer.flagged_for_review
    review = federation.stub("santa-clara-superior", "clerk-lee").ReviewExigent(
        gateway_pb2.ReviewExigentRequest(
            query_id=answer.query_id, upheld=True, note="exigency shown"
        ),
        timeout=10,
    )
    assert review.upheld
    with pytest.raises(grpc.RpcError) as excinfo:  # reviewed once
        federation.stub("santa-clara-superior", "clerk-lee").ReviewExigent(
            gateway_pb2.ReviewExigentRequest(query_id=answer.query_id, upheld=False), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_exigent_look_back_is_short(federation: Federation) -> None:
    approval = approve(federation)
    answer = federation.query(
        "sjpd",
        "officer-garcia",
        exigent_approval_id=approval.approval_id,
        purpose=Purpose.AMBER_ALERT,
        case_number="SJ-AMBER-1",
        window_from=federation.now - 5 * DAY,
    )
    assert all("exigent.lookback" in [r.rule_id for r in o.reasons] for o in answer.outcomes)
    assert not answer.flagged_for_review


def test_an_officer_cannot_approve_and_a_supervisor_cannot_approve_themselves(
    federation: Federation,
) -> None:
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("sjpd", "officer-garcia").ApproveExigent(
            gateway_pb2.ApproveExigentRequest(
                officer_id="officer-garcia", plate=SUSPECT, purpose="amber_alert", case_number="X"
            ),
            timeout=10,
        )
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with pytest.raises(grpc.RpcError) as excinfo:
        approve(federation, officer_id="sgt-nguyen")
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_exigent_purposes_only(federation: Federation) -> None:
    with pytest.raises(grpc.RpcError) as excinfo:
        approve(federation, purpose="stolen_vehicle")
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_an_approval_covers_only_its_plate_and_officer(federation: Federation) -> None:
    approval = approve(federation)
    answer = federation.query(
        "sjpd",
        "officer-garcia",
        exigent_approval_id=approval.approval_id,
        plate="CDK4417",
        purpose=Purpose.AMBER_ALERT,
        case_number="SJ-AMBER-1",
        window_from=federation.now - DAY,
    )
    assert all("exigent.plate" in [r.rule_id for r in o.reasons] for o in answer.outcomes)


def test_envelope_helpers_round_trip() -> None:
    key = SigningKey.generate()
    envelope = key.sign_envelope("t", {"a": 1})
    assert wire.envelope_from_pb(wire.envelope_to_pb(envelope), field="x") == envelope


def test_an_expired_warrant_is_not_registered(federation: Federation) -> None:
    expired = federation.sign_warrant(
        issued_at=federation.now - 10 * DAY, expires_at=federation.now - DAY
    )
    assert register_error(federation, expired).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_clerk_revokes_only_their_own_courts_warrants(federation: Federation) -> None:
    warrant_id = federation.warrant()
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("norfolk-circuit", "clerk-adams").RevokeWarrant(
            gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason="not mine"), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    shown = federation.stub("sjpd", "officer-garcia").GetWarrant(
        gateway_pb2.GetWarrantRequest(warrant_id=warrant_id), timeout=10
    )
    assert not shown.revoked


def test_exigent_review_needs_the_courts_jurisdiction(federation: Federation) -> None:
    approval = approve(federation)
    answer = federation.query(
        "sjpd",
        "officer-garcia",
        exigent_approval_id=approval.approval_id,
        purpose=Purpose.AMBER_ALERT,
        case_number="SJ-AMBER-1",
        window_from=federation.now - DAY,
    )
    assert answer.flagged_for_review
    with pytest.raises(grpc.RpcError) as excinfo:  # a Texas court over a California agency
        federation.stub("johnson-county-district", "clerk-cruz").ReviewExigent(
            gateway_pb2.ReviewExigentRequest(query_id=answer.query_id, upheld=True), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    review = federation.stub("santa-clara-superior", "clerk-lee").ReviewExigent(
        gateway_pb2.ReviewExigentRequest(query_id=answer.query_id, upheld=False), timeout=10
    )
    assert not review.upheld
