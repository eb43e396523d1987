"""`alprfed ledger` end to end with click's CliRunner, on a real database."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa
from click.testing import CliRunner, Result

from alprfed.cli.exit_codes import ExitCode
from alprfed.cli.main import cli
from alprfed.db import writer
from alprfed.ledger import schema
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
Fill = Callable[[LedgerStore, list[int]], None]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["ledger", *args], catch_exceptions=False)


def test_verify_draws_its_progress_over_every_entry_when_forced(
    log: LedgerStore, database_url: str, verifier: NoteVerifier
) -> None:
    key = verifier.to_vkey()
    result = run("--database", database_url, "verify", "--key", key, "--progress")
    assert result.exit_code == 0, result.output
    assert "verifying" in result.stderr
    assert "8/8" in result.stderr
    assert "verifying" not in result.stdout
    quiet = run("--database", database_url, "verify", "--key", key, "--progress", "--quiet")
    assert "verifying" not in quiet.stderr
    assert "ledger verifies: 8 entries" in quiet.stdout


def test_verifier_key_is_printed_from_the_private_key(
    ledger_key: SigningKey, verifier: NoteVerifier, tmp_path: Path
) -> None:
    key_file = tmp_path / "ledger.pem"
    ledger_key.save(key_file)
    result = run("verifier-key", "--key-file", str(key_file), "--origin", ORIGIN)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == verifier.to_vkey()


def test_checkpoint_and_entries_are_shown(log: LedgerStore, database_url: str) -> None:
    result = run("--database", database_url, "checkpoint")
    assert result.exit_code == 0, result.output
    assert result.output == log.latest_checkpoint()
    result = run("--database", database_url, "entries", "--json")
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [e["index"] for e in lines] == list(range(8))
    assert lines[0]["kind"] == "warrant_registered"
    assert len(lines[0]["plate_commitments"]) == 1
    result = run(
        "--database",
        database_url,
        "entries",
        "--kind",
        "warrant_registered",
        "--start",
        "0",
        "--end",
        "5",
    )
    assert result.exit_code == 0, result.output
    assert "w-1" in result.output
    assert "query_decision" not in result.output


def test_a_proof_file_verifies_offline_with_only_the_key(
    log: LedgerStore, database_url: str, verifier: NoteVerifier, tmp_path: Path
) -> None:
    receipt = tmp_path / "entry-0.tlog-proof"
    result = run("--database", database_url, "proof", "--index", "0", "--out", str(receipt))
    assert result.exit_code == 0, result.output
    assert receipt.read_text().startswith("c2sp.org/tlog-proof@v1\n")
    key_file = tmp_path / "ledger.vkey"
    key_file.write_text(verifier.to_vkey() + "\n")
    for key in (verifier.to_vkey(), str(key_file)):
        result = run("verify-proof", str(receipt), "--key", key)
        assert result.exit_code == 0, result.output
        assert "entry 0 is in" in result.output
        assert '"warrant_id": "w-1"' in result.output


def test_a_proof_checked_with_another_key_fails(
    log: LedgerStore, database_url: str, tmp_path: Path
) -> None:
    receipt = tmp_path / "entry-3.tlog-proof"
    run("--database", database_url, "proof", "--index", "3", "--out", str(receipt))
    stranger = NoteVerifier.for_key(ORIGIN, SigningKey.generate().public).to_vkey()
    result = run("verify-proof", str(receipt), "--key", stranger)
    assert result.exit_code == ExitCode.NOT_VERIFIED
    assert "not signed by any known key" in result.output


def test_consistency_between_two_signed_sizes(
    log: LedgerStore, database_url: str, verifier: NoteVerifier
) -> None:
    result = run(
        "--database",
        database_url,
        "consistency",
        "--old",
        "4",
        "--new",
        "8",
        "--key",
        verifier.to_vkey(),
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[:-1] == [
        base64.b64encode(h).decode() for h in log.consistency_proof(4, 8)
    ]
    assert "verified against the signed checkpoints" in result.output


def test_verify_succeeds_then_names_the_tampered_entry(
    log: LedgerStore, database_url: str, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state = tmp_path / "monitor.json"
    result = run(
        "--database", database_url, "verify", "--key", verifier.to_vkey(), "--state", str(state)
    )
    assert result.exit_code == 0, result.output
    assert "ledger verifies: 8 entries, 4 signed checkpoints" in result.output
    with writer(log.engine).begin() as conn:
        conn.execute(sa.delete(schema.entries).where(schema.entries.c.idx == 5))
    result = run(
        "--database", database_url, "verify", "--key", verifier.to_vkey(), "--state", str(state)
    )
    assert result.exit_code == ExitCode.NOT_VERIFIED
    assert "entry 5:" in result.output


def test_a_source_must_be_named(verifier: NoteVerifier) -> None:
    result = run("verify", "--key", verifier.to_vkey())
    assert result.exit_code == 2
    assert "--database URL, or --profile FILE or --gateway HOST:PORT" in result.output


def test_a_malformed_verifier_key_is_refused(log: LedgerStore, database_url: str) -> None:
    result = run("--database", database_url, "verify", "--key", "not-a-key")
    assert result.exit_code == 1
    assert "verifier key" in result.output


def test_an_auditor_verifies_through_a_gateway(
    log: LedgerStore, ledger_address: str, verifier: NoteVerifier, tmp_path: Path
) -> None:
    source = ("--gateway", ledger_address, "--insecure", "--as", "person:oversight/lee")
    result = run(*source, "verify", "--key", verifier.to_vkey())
    assert result.exit_code == 0, result.output
    assert "ledger verifies: 8 entries" in result.output
    receipt = tmp_path / "entry-6.tlog-proof"
    assert run(*source, "proof", "--index", "6", "--out", str(receipt)).exit_code == 0
    result = run("verify-proof", str(receipt), "--key", verifier.to_vkey())
    assert result.exit_code == 0, result.output
    assert "entry 6 is in" in result.output


def test_a_gateway_without_tls_material_is_refused(ledger_address: str) -> None:
    result = run("--gateway", ledger_address, "checkpoint")
    assert result.exit_code == 1
    assert "TLS needs ca, cert, key" in result.output
