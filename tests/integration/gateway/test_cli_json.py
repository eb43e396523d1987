"""`--json` on the commands that talk to a running federation (real gateway, nodes and
witnesses over mutual TLS): gateway reload, warrant issue and register, ledger open."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from federations import SUSPECT, Federation

from alprfed.cli.main import cli
from alprfed.signing import SigningKey, VerifyingKey


def document(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def invoke(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_gateway_reload_json_names_the_bundle_in_force(
    federation: Federation, tmp_path: Path
) -> None:
    admin = federation.profile(tmp_path, "federation", "admin-ortiz")
    reloaded = document(invoke("gateway", "reload", "--profile", admin, "--json"))
    assert reloaded["changed"] is False
    assert len(reloaded["bundle_sha256"]) == 64
    officer = federation.profile(tmp_path, "sjpd", "officer-garcia")
    refused = invoke("gateway", "reload", "--profile", officer, "--json")
    assert refused.exit_code == 1
    assert refused.stdout == ""
    assert refused.stderr.startswith("error: PERMISSION_DENIED")


def test_gateway_keygen_json_gives_the_public_half(tmp_path: Path) -> None:
    out = tmp_path / "court.key"
    made = document(invoke("gateway", "keygen", out, "--json"))
    assert VerifyingKey.from_text(made["public_key"]) == SigningKey.load(out).public
    assert made["key_file"] == str(out)


def test_a_warrant_issued_and_registered_with_json(federation: Federation, tmp_path: Path) -> None:
    court, clerk = federation.clerk_of("santa-clara-superior")
    out = tmp_path / "warrant.json"
    issued = document(
        invoke(
            "warrant", "issue", "--court-key", federation.layout.court_key(court),
            "--court", court, "--judge", "judge-okafor", "--id", "w-json-1", "--agency", "sjpd",
            "--plate", SUSPECT, "--from", "-7d", "--offense", "robbery", "--out", out, "--json",
        )
    )  # fmt: skip
    assert issued["warrant_id"] == "w-json-1"
    assert issued["court"] == court
    assert issued["prospective"] is False
    assert issued["out"] == str(out)
    assert json.loads(out.read_text())["signatures"][0]["keyid"] == issued["key_id"]
    registered = document(
        invoke(
            "warrant", "register", out, "--json",
            "--profile", federation.profile(tmp_path, court, clerk),
        )
    )  # fmt: skip
    assert registered["warrant_id"] == "w-json-1"
    assert registered["status"] == "registered"
    assert registered["warrant"]["expires_at"] == issued["expires_at"]


def test_ledger_open_json_gives_the_plate_and_the_opening_entry(
    federation: Federation, tmp_path: Path
) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    (decision,) = federation.logged("query_decision", "query_id", answer.query_id)
    auditor = federation.profile(tmp_path, "ca-state-auditor", "auditor-patel")
    opened = document(
        invoke(
            "ledger", "--profile", auditor, "open", "--index", decision.index,
            "--reason", "council audit 2026-Q4", "--json",
        )
    )  # fmt: skip
    assert opened["index"] == decision.index
    assert [c["plate"] for c in opened["commitments"]] == [SUSPECT] * len(decision.commitments)
    assert all(len(bytes.fromhex(c["salt"])) > 0 for c in opened["commitments"])
    (logged,) = federation.logged("commitment_opened", "opened_index", decision.index)
    assert logged.index == opened["opening_ledger_index"]
    assert logged.kind.value == "commitment_opened"
    assert logged.body["opened_index"] == decision.index
