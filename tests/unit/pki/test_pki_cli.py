"""`alprfed pki init | add-org | issue | show` as an operator runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from alprfed.cli.main import cli
from alprfed.clock import SYSTEM_CLOCK, FixedClock
from alprfed.pki import credential_path, issue
from alprfed.rpc.identity import PrincipalKind

YEAR_S = 365 * 24 * 3600


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["pki", *args])


def _text(result: Result) -> str:
    """The output with rich's line wrapping undone, so assertions do not depend on width."""
    return " ".join(result.output.split())


@pytest.fixture
def pki(tmp_path: Path) -> Path:
    directory = tmp_path / "pki"
    result = _run("init", str(directory), "--org", "sjpd", "--org", "ca-state-auditor")
    assert result.exit_code == 0, result.output
    return directory


def test_init_reports_what_it_created(tmp_path: Path) -> None:
    result = _run("init", str(tmp_path / "pki"), "--org", "sjpd", "--host", "gw.test")
    assert result.exit_code == 0, result.output
    assert "organization CAs federation, sjpd" in _text(result)
    credential_path(tmp_path / "pki", "federation", "gateway")  # the gateway was issued


def test_init_refuses_an_existing_pki_without_force(pki: Path) -> None:
    before = (pki / "ca.pem").read_bytes()
    result = _run("init", str(pki), "--org", "sjpd")
    assert result.exit_code == 1
    assert "--force" in _text(result)
    assert (pki / "ca.pem").read_bytes() == before
    assert _run("init", str(pki), "--org", "sjpd", "--force").exit_code == 0
    assert (pki / "ca.pem").read_bytes() != before


def test_issue_then_show_reads_the_identity_the_gateway_will_read(pki: Path) -> None:
    issued = _run(
        "issue", str(pki), "--org", "sjpd", "--kind", "person", "--name", "officer-garcia"
    )
    assert issued.exit_code == 0, issued.output
    cert = credential_path(pki, "sjpd", "officer-garcia").cert
    assert str(cert) in _text(issued)

    shown = _run("show", str(cert))
    assert shown.exit_code == 0, shown.output
    text = _text(shown)
    assert "subject CN=officer-garcia,OU=person,O=sjpd" in text
    assert "issuer CN=sjpd CA,O=sjpd" in text
    assert "(valid)" in text
    assert "usages clientAuth" in text
    assert "identity person:sjpd/officer-garcia" in text


def test_issue_node_with_host_shows_its_host_names(pki: Path) -> None:
    args = ["--org", "sjpd", "--kind", "node", "--name", "node", "--host", "node.sjpd.test"]
    assert _run("issue", str(pki), *args).exit_code == 0
    text = _text(_run("show", str(credential_path(pki, "sjpd", "node").cert)))
    assert "hosts localhost, 127.0.0.1, ::1, node.sjpd.test" in text
    assert "usages serverAuth, clientAuth" in text


def test_issue_for_an_organization_without_a_ca_points_to_add_org(pki: Path) -> None:
    args = ["--org", "seattle-pd", "--kind", "person", "--name", "officer-kim"]
    refused = _run("issue", str(pki), *args)
    assert refused.exit_code == 1
    assert "alprfed pki add-org" in _text(refused)

    assert _run("add-org", str(pki), "--org", "seattle-pd").exit_code == 0
    assert _run("issue", str(pki), *args).exit_code == 0


def test_issue_refuses_an_unknown_kind(pki: Path) -> None:
    result = _run("issue", str(pki), "--org", "sjpd", "--kind", "robot", "--name", "r2")
    assert result.exit_code == 2  # click's usage error, before anything runs


def test_issue_replace_rotates_the_credential(pki: Path) -> None:
    args = ["--org", "sjpd", "--kind", "camera", "--name", "cam-1"]
    assert _run("issue", str(pki), *args).exit_code == 0
    before = credential_path(pki, "sjpd", "cam-1").cert.read_bytes()
    assert _run("issue", str(pki), *args).exit_code == 1
    assert _run("issue", str(pki), *args, "--replace").exit_code == 0
    assert credential_path(pki, "sjpd", "cam-1").cert.read_bytes() != before


def test_show_marks_an_expired_certificate(pki: Path) -> None:
    long_ago = FixedClock(SYSTEM_CLOCK.now() - 3 * YEAR_S)
    old = issue(
        pki, organization="sjpd", kind=PrincipalKind.PERSON, principal="officer-old", clock=long_ago
    )
    text = _text(_run("show", str(old.cert)))
    assert "EXPIRED" in text
    assert "(valid)" not in text


def test_show_says_a_ca_certificate_is_no_identity(pki: Path) -> None:
    text = _text(_run("show", str(pki / "ca.pem")))
    assert "identity none (a CA certificate)" in text


def test_show_refuses_a_file_that_is_not_a_certificate(tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    result = _run("show", str(junk))
    assert result.exit_code == 1
    assert "holds no PEM certificate" in _text(result)
