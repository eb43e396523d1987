"""The two-sided audit: each node's own access log, fetched by an auditor with their
certificate, reconciled with the ledger; a query made outside the ledger stands out."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import time
import uuid

import grpc
import pytest
from federations import DAY, SUSPECT, Federation

from alprfed import wire
from alprfed.client import fetch_access_log
from alprfed.ledger import iter_entries
from alprfed.ledger.remote import GrpcLedgerSource
from alprfed.messages import Requester, SearchQuery
from alprfed.models import AgencyKind, Purpose, TimeWindow
from alprfed.policy.reconcile import reconcile
from alprfed.rpc.tls import secure_channel
from alprfed.signing import SEARCH_QUERY_TYPE, SigningKey
from alprfed.v1 import node_pb2, node_pb2_grpc

AUDITOR = ("ca-state-auditor", "auditor-patel")


def node_log(federation: Federation, agency: str, who: tuple[str, str] = AUDITOR) -> list[dict]:
    address = federation.layout.node_addresses[agency]
    with secure_channel(address, federation.tls(*who)) as channel:
        return list(fetch_access_log(channel, ()))


def forge(federation: Federation) -> None:
    """What a thief of the gateway's keys does: ask San Jose's node directly, no evidence."""
    key = SigningKey.load(federation.layout.root / "keys" / "gateway-query.pem")
    now, issued = federation.now, int(time.time())
    query = SearchQuery(
        query_id=uuid.uuid4().hex,
        addressees=("sjpd",),
        issued_at=issued,
        expires_at=issued + 60,
        nonce=secrets.token_hex(16),
        plate=SUSPECT,
        window=TimeWindow(now - 3 * DAY, now),
        purpose=Purpose.ROBBERY,
        case_number="NONE",
        requester=Requester("sjpd", "officer-garcia", "CA", AgencyKind.LOCAL),
        warrant_id="w-none",
        exigent=False,
    )
    envelope = key.sign_envelope(SEARCH_QUERY_TYPE, query.to_canonical())
    with (
        secure_channel(
            federation.layout.node_addresses["sjpd"], federation.tls("federation", "gateway")
        ) as channel,
        pytest.raises(grpc.RpcError) as caught,
    ):
        node_pb2_grpc.AgencyNodeStub(channel).Search(
            node_pb2.SearchRequest(query=wire.envelope_to_pb(envelope)), timeout=10
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_node_logs_reconcile_with_the_ledger_and_expose_a_forged_query(
    federation: Federation,
) -> None:
    warrant = federation.warrant()
    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    assert answer.complete
    forge(federation)
    logs = {agency: node_log(federation, agency) for agency in federation.nodes}
    answered = [r for r in logs["sjpd"] if r["query_id"] == answer.query_id]
    assert [r["outcome"] for r in answered] == ["answered"]
    with secure_channel(
        f"localhost:{federation.gateway.port}", federation.tls(*AUDITOR)
    ) as channel:
        report = reconcile(iter_entries(GrpcLedgerSource(channel)), logs)
    assert report.clean, report.findings
    answered_by_nodes = [o for o in answer.outcomes if o.receipt is not None]
    assert len(answered_by_nodes) >= 2
    assert report.matched >= len(answered_by_nodes)  # each node answer of it, at least
    assert report.attempts_without_decision >= 1  # the forged query
    assert any("no logged decision" in f.problem for f in report.findings if f.agency == "sjpd")


def test_a_receipt_the_ledger_does_not_hold_is_a_finding(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    logs = {"sjpd": node_log(federation, "sjpd")}
    for record in logs["sjpd"]:
        if record["query_id"] == answer.query_id:
            record["receipt"]["signature"] = record["receipt"]["signature"][::-1]  # tampered
    with secure_channel(
        f"localhost:{federation.gateway.port}", federation.tls(*AUDITOR)
    ) as channel:
        report = reconcile(iter_entries(GrpcLedgerSource(channel)), logs)
    assert not report.clean
    assert any(f.query_id == answer.query_id and "receipt" in f.problem for f in report.findings)


def test_only_the_nodes_auditors_may_read_its_access_log(federation: Federation) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        node_log(federation, "sjpd", ("sjpd", "officer-garcia"))
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_reconcile_command_fetches_node_logs_with_the_auditors_certificate(
    federation: Federation,
) -> None:
    federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    principal = federation.layout.pki / "orgs" / AUDITOR[0] / "principals" / AUDITOR[1]
    command = [
        sys.executable, "-m", "alprfed", "ledger",
        "--gateway", f"localhost:{federation.gateway.port}",
        "--ca", str(federation.layout.pki / "ca.pem"),
        "--cert", str(principal / "cert.pem"), "--key", str(principal / "key.pem"),
        "reconcile", "--key", str(federation.layout.vkey_file), "--json",
        *(f"--node={a}={federation.layout.node_addresses[a]}" for a in federation.nodes),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["matched"] > 0
