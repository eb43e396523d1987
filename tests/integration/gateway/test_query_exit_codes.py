"""`alprfed query` through a real gateway: the exit status tells a script what happened.

A query every agency refuses is not success (3), whatever it prints; a lawful one is (0); a
gateway nobody answers at is "retry later" (5), not "refused" (1). The answer is printed, and
parses as JSON with --json, in every case.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner
from federations import SUSPECT, Federation

from alprfed.cli.exit_codes import ExitCode
from alprfed.cli.main import cli


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat()


def profile(federation: Federation, tmp_path: Path, organization: str, person: str) -> Path:
    return federation.profile(tmp_path, organization, person)


def query(
    federation: Federation, tmp_path: Path, *extra: str, gateway: str = ""
) -> tuple[int, str]:
    path = profile(federation, tmp_path, "sjpd", "officer-garcia")
    if gateway:
        path.write_text(path.read_text().replace(f"localhost:{federation.gateway.port}", gateway))
    result = CliRunner().invoke(
        cli,
        [
            "query",
            "--profile",
            str(path),
            "--plate",
            SUSPECT,
            "--from",
            iso(federation.now - 3 * 86_400),
            "--to",
            iso(federation.now),
            "--purpose",
            "robbery",
            "--case",
            "SJ-2026-0042",
            "--json",
            *extra,
        ],
    )
    return result.exit_code, result.output


def test_a_query_every_agency_refuses_exits_3_with_the_reasons(
    federation: Federation, tmp_path: Path
) -> None:
    code, output = query(federation, tmp_path)  # no warrant: every gate says so
    assert code == ExitCode.REFUSED_EVERYWHERE, output
    answer = json.loads(output)
    assert {a["outcome"] for a in answer["agencies"]} == {"denied"}
    assert all(
        "warrant.required" in {r["rule_id"] for r in a["reasons"]} for a in answer["agencies"]
    )


def test_a_lawful_query_exits_0(federation: Federation, tmp_path: Path) -> None:
    code, output = query(federation, tmp_path, "--warrant", federation.warrant())
    answer = json.loads(output)
    assert answer["complete"], output  # every node of the test federation is up
    assert code == ExitCode.OK, output
    assert any(a["outcome"] == "results" for a in answer["agencies"])


def test_an_unreachable_gateway_exits_5(federation: Federation, tmp_path: Path) -> None:
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    code, output = query(federation, tmp_path, "--timeout", "2", gateway=f"localhost:{port}")
    assert code == ExitCode.UNAVAILABLE, output
    assert output.startswith("error: ")
