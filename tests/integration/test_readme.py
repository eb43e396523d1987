"""The README's commands, run as written, so they cannot rot.

Every `alprfed ...` line of the README's shell blocks runs here, in order, against a real
federation (nodes and gateway over mutual TLS), with the files the README names standing in a
scratch directory: the profiles of a clerk, an officer and an auditor, the court's key, the
ledger's verifier key, and node.toml taken from the README's own TOML block. Only commands that
run until stopped (`serve`, `up`) and `make` lines are left out.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner
from federations import start_federation, stop_federation

from alprfed.cli.main import cli
from alprfed.demo.layout import Layout

README = Path(__file__).resolve().parents[2] / "README.md"
LONG_RUNNING = ("node serve", "gateway serve", "witness serve", "up")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


def readme_commands() -> list[list[str]]:
    commands = []
    for block in blocks("sh"):
        text = block.replace("\\\n", " ")
        for line in text.splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line.startswith("alprfed "):
                continue
            args = shlex.split(line)[1:]
            if " ".join(args[:2]) in LONG_RUNNING or args[0] in LONG_RUNNING or "serve" in args:
                continue
            commands.append(args)
    return commands


def write_profile(path: Path, layout: Layout, organization: str, person: str) -> None:
    principal = layout.pki / "orgs" / organization / "principals" / person
    path.write_text(
        f'gateway = "{layout.gateway_address}"\nca = "{layout.pki / "ca.pem"}"\n'
        f'cert = "{principal / "cert.pem"}"\nkey = "{principal / "key.pem"}"\n'
    )


def stage_files(work: Path, layout: Layout) -> None:
    write_profile(work / "clerk.toml", layout, "santa-clara-superior", "clerk-lee")
    write_profile(work / "officer.toml", layout, "sjpd", "officer-garcia")
    write_profile(work / "auditor.toml", layout, "ca-state-auditor", "auditor-patel")
    (work / "court.pem").write_bytes(layout.court_key("santa-clara-superior").read_bytes())
    (work / "ledger.vkey").write_text(layout.vkey_file.read_text())
    (work / "witness-policy.txt").write_text(layout.witness_policy.read_text())
    # node.toml exactly as the README shows it, but for the real federation key.
    (node_toml,) = [b for b in blocks("toml") if b.startswith("# node.toml")]
    gateway_key = re.search(r'gateway_key = "([^"]+)"', layout.federation_file.read_text()).group(1)  # type: ignore[union-attr]
    (work / "node.toml").write_text(node_toml.replace('"ed25519:..."', f'"{gateway_key}"'))
    (work / "cameras.csv").write_text(
        "camera_id,name,latitude,longitude,sensitive_site\n"
        "cam-1,1st St & Santa Clara St,37.336100,-121.890600,\n"
    )
    (work / "reads.csv").write_text(
        "plate,plate_state,observed_at,camera_id,latitude,longitude,confidence\n"
        "8FXR 413,CA,2026-11-01T08:00:00Z,cam-1,37.336100,-121.890600,0.93\n"
    )


def test_every_readme_command_runs_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    commands = readme_commands()
    assert len(commands) >= 12, "the README lost its examples"
    federation = start_federation(tmp_path / "fed")
    work = tmp_path / "work"
    work.mkdir()
    try:
        stage_files(work, federation.layout)
        monkeypatch.chdir(work)
        runner = CliRunner()
        for args in commands:
            result = runner.invoke(cli, args, catch_exceptions=False)
            assert result.exit_code == 0, f"alprfed {shlex.join(args)}\n{result.output}"
    finally:
        stop_federation(federation)
    assert (work / "receipt.tlog-proof").exists()
    assert (work / "auditor-state.json").exists()
    assert (work / "transparency-report" / "index.html").exists()
