"""Federation admins reload the policy over gRPC; auditors open commitments (logged); the
plates behind old commitments are deleted after their retention."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from federations import SUSPECT, Federation

from alprfed.cli.main import cli
from alprfed.clock import FixedClock
from alprfed.errors import NotFound
from alprfed.ledger import LedgerStore, LedgerWriter, iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.signing import SigningKey
from alprfed.v1 import gateway_pb2
from gateway.audit import AuditTrail
from gateway.openings import OpeningsRetention


def profile(federation: Federation, tmp_path: Path, organization: str, person: str) -> Path:
    return federation.profile(tmp_path, organization, person)


def test_only_a_federation_admin_reloads_the_policy(federation: Federation, tmp_path: Path) -> None:
    reply = federation.stub("federation", "admin-ortiz").ReloadPolicy(
        gateway_pb2.ReloadPolicyRequest(), timeout=10
    )
    assert not reply.changed
    assert len(reply.bundle_sha256) == 64
    with pytest.raises(grpc.RpcError) as excinfo:
        federation.stub("sjpd", "officer-garcia").ReloadPolicy(
            gateway_pb2.ReloadPolicyRequest(), timeout=10
        )
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    result = CliRunner().invoke(
        cli,
        [
            "gateway",
            "reload",
            "--profile",
            str(profile(federation, tmp_path, "federation", "admin-ortiz")),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "unchanged" in result.output


def test_an_auditor_opens_a_commitment_and_the_opening_is_logged(
    federation: Federation, tmp_path: Path
) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    auditor = profile(federation, tmp_path, "ca-state-auditor", "auditor-patel")
    db = f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
    reader = LedgerReader.open_readonly(db)
    try:
        (decision,) = [
            e
            for e in iter_entries(reader, kinds=["query_decision"])
            if e.body["query_id"] == answer.query_id
        ]
    finally:
        reader.close()
    runner = CliRunner()
    opened = runner.invoke(
        cli,
        [
            "ledger",
            "--profile",
            str(auditor),
            "open",
            "--index",
            str(decision.index),
            "--reason",
            "council audit 2026-Q4",
        ],
    )
    assert opened.exit_code == 0, opened.output
    assert f"plate {SUSPECT}" in opened.output
    officer = profile(federation, tmp_path, "sjpd", "officer-garcia")
    refused = runner.invoke(
        cli,
        [
            "ledger",
            "--profile",
            str(officer),
            "open",
            "--index",
            str(decision.index),
            "--reason",
            "curious",
        ],
    )
    assert refused.exit_code == 1
    assert "PERMISSION_DENIED" in refused.output
    reader = LedgerReader.open_readonly(db)
    try:
        openings = list(iter_entries(reader, kinds=["commitment_opened"]))
    finally:
        reader.close()
    assert openings[-1].body["opened_index"] == decision.index
    assert openings[-1].body["by"]["principal"] == "auditor-patel"
    assert SUSPECT.encode() not in openings[-1].data  # the opening entry does not leak it


def test_old_openings_are_deleted_and_the_deletion_is_recorded(sqlite_url: str) -> None:
    clock = FixedClock(1_764_000_000)
    store = LedgerStore.open(
        sqlite_url, origin="test.example/log", signer=SigningKey.generate(), clock=clock
    )

    async def scenario() -> tuple[int, int, int]:
        writer = LedgerWriter(store)
        audit = AuditTrail(writer)
        old = await writer.append("exigent_approved", {"approval_id": "ex-1"}, ("8FXR413",))
        clock.advance(400 * 86_400)
        new = await writer.append("exigent_approved", {"approval_id": "ex-2"}, ("7ABC123",))
        retention = OpeningsRetention(store, audit, retention_seconds=365 * 86_400, clock=clock)
        deleted = await retention.run_once()
        await writer.close()
        return old.index, new.index, deleted

    try:
        old, new, deleted = asyncio.run(scenario())
        assert deleted == 1
        with pytest.raises(NotFound):
            store.open_commitments(old)
        assert [plate for plate, _ in store.open_commitments(new)] == ["7ABC123"]
        purges = [e for e in iter_entries(store, kinds=["retention_purge"])]
        assert purges[-1].body["scope"] == "commitment_openings"
        assert purges[-1].body["deleted_openings"] == 1
    finally:
        store.close()
