"""Audit replay re-decides every logged query with the policy that was in force for it."""

from __future__ import annotations

from pathlib import Path

from federations import forge_allowed_and_replay, start_federation, stop_federation

from alprfed.ledger import iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.policy.replay import audit_entries
from alprfed.v1 import gateway_pb2


def test_an_honest_ledger_replays_clean_and_a_lying_gateway_is_caught(tmp_path: Path) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        warrant = federation.warrant()
        federation.query("sjpd", "officer-garcia", warrant_id=warrant)  # mixed
        federation.query("sjpd", "officer-garcia")  # no warrant
        federation.query("sjpd", "officer-garcia", warrant_id=warrant, plate="7XYZ999")
        exigent = federation.amber_alert("A-1")
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
    index, caught = forge_allowed_and_replay(federation, decisions[1].body, "sjpd")
    assert [(d.index, d.agency) for d in caught.disagreements] == [(index, "sjpd")]
    assert caught.disagreements[0].logged == "allowed"
    assert caught.disagreements[0].replayed == "denied: warrant.required"


def test_ledger_audit_command_verifies_first_then_replays(tmp_path: Path) -> None:
    """`alprfed ledger audit`: exit 0 on an honest ledger; non-zero naming the index once one
    entry's byte is changed, because a replay of unverified entries proves nothing."""
    import sqlalchemy as sa
    from click.testing import CliRunner

    from alprfed.cli.main import cli
    from alprfed.ledger import schema

    federation = start_federation(tmp_path / "fed")
    try:
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    finally:
        stop_federation(federation)
    url = f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
    vkey = str(federation.layout.vkey_file)
    runner = CliRunner()
    honest = runner.invoke(cli, ["ledger", "--database", url, "audit", "--key", vkey])
    assert honest.exit_code == 0, honest.output
    assert "agrees with the policy in" in honest.output

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        index, data = conn.execute(
            sa.select(schema.entries.c.idx, schema.entries.c.data)
            .order_by(schema.entries.c.idx.desc())
            .limit(1)
        ).one()
        tampered = data.replace(b'"complete":true', b'"complete":fals')
        assert tampered != data
        conn.execute(
            sa.update(schema.entries).where(schema.entries.c.idx == index).values(data=tampered)
        )
    engine.dispose()
    caught = runner.invoke(cli, ["ledger", "--database", url, "audit", "--key", vkey])
    assert caught.exit_code != 0
    assert f"entry {index}" in caught.output
