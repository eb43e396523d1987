"""`alprfed pki ... --json` on a real development PKI: paths a script can open and the
identity the gateway will read, as one JSON document."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result
from cryptography import x509

from alprfed.cli.main import cli
from alprfed.pki import credential_path


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["pki", *args])


def document(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_init_add_org_and_issue_json_name_files_that_exist(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    made = document(run("init", str(directory), "--org", "sjpd", "--json"))
    assert made["organizations"] == ["federation", "sjpd"]
    assert made["gateway"] == "federation/gateway"
    assert Path(made["trust_bundle"]).read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    added = document(run("add-org", str(directory), "--org", "ca-state-auditor", "--json"))
    assert added == {"directory": str(directory), "organization": "ca-state-auditor"}
    issued = document(
        run(
            "issue", str(directory), "--org", "ca-state-auditor", "--kind", "person",
            "--name", "auditor-patel", "--json",
        )
    )  # fmt: skip
    assert issued["identity"] == "person:ca-state-auditor/auditor-patel"
    expected = credential_path(directory, "ca-state-auditor", "auditor-patel")
    assert (issued["cert"], issued["key"], issued["ca"]) == tuple(
        str(p) for p in (expected.cert, expected.key, expected.ca)
    )


def test_show_json_reads_the_certificate_and_the_identity(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    document(run("init", str(directory), "--org", "sjpd", "--json"))
    issued = document(
        run(
            "issue", str(directory), "--org", "sjpd", "--kind", "node", "--name", "node-1",
            "--host", "node1.sjpd.test", "--json",
        )
    )  # fmt: skip
    shown = document(run("show", issued["cert"], "--json"))
    leaf = x509.load_pem_x509_certificates(Path(issued["cert"]).read_bytes())[0]
    assert shown["serial"] == f"{leaf.serial_number:x}"
    assert shown["subject"] == leaf.subject.rfc4514_string()
    assert shown["validity"] == "valid"
    assert shown["not_before"] < shown["not_after"]
    assert "node1.sjpd.test" in shown["hosts"]
    assert shown["is_ca"] is False
    assert shown["identity"] == "node:sjpd/node-1"
    assert shown["identity_refused"] is None
    root = document(run("show", str(directory / "ca.pem"), "--json"))
    assert root["is_ca"] is True
    assert root["identity"] is None


def test_show_json_of_a_file_without_a_certificate_is_one_error_line(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    result = run("show", str(junk), "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {junk} holds no PEM certificate"
