"""Audit replay re-decides every logged query with the policy that was in force for it."""

from __future__ import annotations

import copy
from pathlib import Path

from federations import DAY, SUSPECT, start_federation, stop_federation

from alprfed.clock import SYSTEM_CLOCK
from alprfed.ledger import LedgerStore, PendingEntry, iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.models import Purpose
from alprfed.policy.replay import audit_entries
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2


def test_an_honest_ledger_replays_clean_and_a_lying_gateway_is_caught(tmp_path: Path) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        warrant = federation.warrant()
        federation.query("sjpd", "officer-garcia", warrant_id=warrant)  # mixed
        federation.query("sjpd", "officer-garcia")  # no warrant
        federation.query("sjpd", "officer-garcia", warrant_id=warrant, plate="7XYZ999")
        approval = federation.stub("sjpd", "sgt-nguyen").ApproveExigent(
            gateway_pb2.ApproveExigentRequest(
                officer_id="officer-garcia", plate=SUSPECT, purpose="amber_alert", case_number="A-1"
            ),
            timeout=10,
        )
        exigent = federation.query(
            "sjpd",
            "officer-garcia",
            exigent_approval_id=approval.approval_id,
            purpose=Purpose.AMBER_ALERT,
            case_number="A-1",
            window_from=federation.now - DAY,
        )
        federation.stub("santa-clara-superior", "clerk-lee").RevokeWarrant(
            gateway_pb2.RevokeWarrantRequest(warrant_id=warrant, reason="closed"), timeout=10
        )
        federation.query("sjpd", "officer-garcia", warrant_id=warrant)  # revoked
    finally:
        stop_federation(federation)

    url = f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
    reader = LedgerReader.open_readonly(url)
    try:
        honest = audit_entries(iter_entries(reader))
        decisions = list(iter_entries(reader, kinds=["query_decision"]))
    finally:
        reader.close()
    assert honest.clean, honest.disagreements
    assert honest.queries == 5
    assert honest.by_requester["sjpd"] == 5
    assert honest.warrants_used[warrant] == 3
    assert honest.awaiting_review == [exigent.query_id]

    # A compromised gateway holding the ledger key logs a decision its policy forbids: the
    # warrantless query let through to San Jose's node.
    forged = copy.deepcopy(decisions[1].body)
    for decision in forged["decisions"]:
        if decision["agency"] == "sjpd":
            decision["allowed"], decision["refused_by"] = True, []
    store = LedgerStore.open(
        url,
        origin=federation.layout.spec.origin,
        signer=SigningKey.load(federation.layout.root / "keys" / "ledger.pem"),
        clock=SYSTEM_CLOCK,
    )
    try:
        (appended,) = store.append_batch([PendingEntry("query_decision", forged, (SUSPECT,))])
    finally:
        store.close()
    reader = LedgerReader.open_readonly(url)
    try:
        caught = audit_entries(iter_entries(reader))
    finally:
        reader.close()
    assert [(d.index, d.agency) for d in caught.disagreements] == [(appended.index, "sjpd")]
    assert caught.disagreements[0].logged == "allowed"
    assert caught.disagreements[0].replayed == "denied: warrant.required"
