"""Every request is recorded before the caller gets an answer, and the ledger verifies."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import grpc
import pytest
from federations import SUSPECT, start_federation, stop_federation

from alprfed.ledger import NoteVerifier, iter_entries, verify_ledger
from alprfed.ledger.remote import GrpcLedgerSource
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import gateway_pb2


def test_allowed_denied_partial_and_malformed_requests_are_all_in_the_ledger(
    tmp_path: Path,
) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        warrant = federation.warrant()
        allowed = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
        federation.nodes.pop("chicago-pd").stop(grace=None)
        partial = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
        denied = federation.query("sjpd", "officer-garcia")
        with pytest.raises(grpc.RpcError):
            federation.stub("sjpd", "officer-garcia").Query(
                gateway_pb2.QueryRequest(plate="NOT A PLATE!", case_number="C"), timeout=10
            )

        auditor = federation.tls("ca-state-auditor", "auditor-patel")
        channel = secure_channel(f"localhost:{federation.gateway.port}", auditor)
        source = GrpcLedgerSource(channel)
        entries = list(iter_entries(source))
        verifier = NoteVerifier.from_vkey(federation.layout.vkey_file.read_text().strip())
        report = verify_ledger(source, [verifier], state_file=tmp_path / "monitor.json")
    finally:
        stop_federation(federation)

    kinds = Counter(e.kind for e in entries)
    assert kinds["policy_bundle"] == 1
    assert kinds["warrant_registered"] == 1
    assert kinds["query_decision"] == 3  # allowed, partial, denied
    assert kinds["query_outcome"] == 3
    assert kinds["query_rejected"] == 1  # the malformed one
    outcomes = {e.body["query_id"]: e.body for e in entries if e.kind == "query_outcome"}
    assert outcomes[allowed.query_id]["complete"] is True
    assert outcomes[partial.query_id]["complete"] is False
    assert {o["outcome"] for o in outcomes[denied.query_id]["outcomes"]} == {"denied"}
    # Each decision precedes its outcome (write-ahead), and no entry holds a plate in clear.
    for e in entries:
        if e.kind == "query_outcome":
            assert e.body["decision_entry"] < e.index
        assert SUSPECT.encode() not in e.data
        assert b"NOT A PLATE" not in e.data
    assert report.size == len(entries)
