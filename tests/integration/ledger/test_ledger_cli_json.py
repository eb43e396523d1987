"""`alprfed ledger ... --json` on a real ledger (SQLite and PostgreSQL): stdout is one JSON
document a script can parse, holding what the text output says; errors stay one stderr line."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner, Result

from alprfed.cli.exit_codes import ExitCode
from alprfed.cli.main import cli
from alprfed.db import writer
from alprfed.ledger import schema
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["ledger", *args], catch_exceptions=False)


def document(result: Result) -> Any:
    """The one JSON document on stdout (json.loads refuses anything before or after it)."""
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_checkpoint_json_matches_the_signed_note(log: LedgerStore, database_url: str) -> None:
    shown = document(run("--database", database_url, "checkpoint", "--json"))
    note = log.latest_checkpoint()
    signed = read_checkpoint(note)
    assert shown["note"] == note
    assert (shown["origin"], shown["size"]) == (ORIGIN, 8)
    assert base64.b64decode(shown["root_hash"]) == signed.root


def test_verify_json_reports_the_verified_size_without_a_progress_bar(
    log: LedgerStore, database_url: str, verifier: NoteVerifier, tmp_path: Path
) -> None:
    state = tmp_path / "monitor.json"
    key = verifier.to_vkey()
    args = ("--database", database_url, "verify", "--key", key, "--state", str(state))
    first = run(*args, "--json", "--progress")
    report = document(first)
    assert "verifying" not in first.stderr  # --json wins over --progress
    assert report["verified"] is True
    assert report["checkpoint"]["size"] == 8
    assert report["checkpoints_checked"] == 4
    assert report["previous_size"] is None
    assert report["cosigners"] == {}
    assert report["quorum"] is None
    assert document(run(*args, "--json"))["previous_size"] == 8


def test_verify_json_on_a_tampered_ledger_is_one_error_line_and_no_json(
    log: LedgerStore, database_url: str, verifier: NoteVerifier
) -> None:
    with writer(log.engine).begin() as conn:
        conn.execute(sa.delete(schema.entries).where(schema.entries.c.idx == 5))
    result = run("--database", database_url, "verify", "--key", verifier.to_vkey(), "--json")
    assert result.exit_code == ExitCode.NOT_VERIFIED
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "entry 5" in line


def test_proof_json_carries_the_receipt_that_verify_proof_json_accepts(
    log: LedgerStore, database_url: str, verifier: NoteVerifier, tmp_path: Path
) -> None:
    made = document(run("--database", database_url, "proof", "--index", "0", "--json"))
    assert made["index"] == 0
    assert made["out"] is None
    assert made["receipt"].startswith("c2sp.org/tlog-proof@v1\n")
    receipt = tmp_path / "entry-0.tlog-proof"
    written = run(
        "--database", database_url, "proof", "--index", "0", "--out", str(receipt), "--json"
    )
    assert document(written)["out"] == str(receipt)
    assert receipt.read_text() == made["receipt"]
    checked = document(run("verify-proof", str(receipt), "--key", verifier.to_vkey(), "--json"))
    assert checked["verified"] is True
    assert checked["checkpoint"]["origin"] == ORIGIN
    assert checked["checkpoint"]["size"] == 8
    assert checked["entry"]["index"] == 0
    assert checked["entry"]["kind"] == "warrant_registered"
    assert checked["entry"]["body"]["warrant_id"] == "w-1"


def test_verify_proof_json_with_a_stranger_key_fails_with_no_json(
    log: LedgerStore, database_url: str, tmp_path: Path
) -> None:
    receipt = tmp_path / "entry-3.tlog-proof"
    run("--database", database_url, "proof", "--index", "3", "--out", str(receipt))
    stranger = NoteVerifier.for_key(ORIGIN, SigningKey.generate().public).to_vkey()
    result = run("verify-proof", str(receipt), "--key", stranger, "--json")
    assert result.exit_code == ExitCode.NOT_VERIFIED
    assert result.stdout == ""
    assert "not signed by any known key" in result.stderr


def test_consistency_json_lists_the_proof_and_says_whether_it_was_checked(
    log: LedgerStore, database_url: str, verifier: NoteVerifier
) -> None:
    expected = [base64.b64encode(h).decode() for h in log.consistency_proof(4, 8)]
    base = ("--database", database_url, "consistency", "--old", "4", "--new", "8", "--json")
    unchecked = document(run(*base))
    assert unchecked == {"old_size": 4, "new_size": 8, "proof": expected, "verified": False}
    checked = document(run(*base, "--key", verifier.to_vkey()))
    assert checked["proof"] == expected
    assert checked["verified"] is True


def test_verifier_key_json_names_the_origin_and_key_id(
    ledger_key: SigningKey, verifier: NoteVerifier, tmp_path: Path
) -> None:
    key_file = tmp_path / "ledger.pem"
    ledger_key.save(key_file)
    shown = document(run("verifier-key", "--key-file", str(key_file), "--origin", ORIGIN, "--json"))
    assert shown == {
        "origin": ORIGIN,
        "key_id": verifier.key_id.hex(),
        "vkey": verifier.to_vkey(),
    }
    assert NoteVerifier.from_vkey(shown["vkey"]) == verifier
