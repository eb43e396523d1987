"""`alprfed query` through a real gateway: the exit status tells a script what happened.

A query every agency refuses is not success (3), whatever it prints; a lawful one is (0); a
gateway nobody answers at is "retry later" (5), not "refused" (1). The answer is printed, and
parses as JSON with --json, in every case.
"""

from __future__ import annotations

import datetime as dt
import json
import re
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


def test_the_typed_client_gets_the_answer_the_cli_prints(
    federation: Federation, tmp_path: Path
) -> None:
    from alprfed.client import GatewayClient
    from alprfed.models import Purpose
    from alprfed.query import QueryInput

    warrant = federation.warrant()
    client = GatewayClient.from_profile(profile(federation, tmp_path, "sjpd", "officer-garcia"))
    answer = client.query(
        QueryInput.create(
            plate=SUSPECT,
            window_from=federation.now - 3 * 86_400,
            window_to=federation.now,
            purpose=Purpose.ROBBERY,
            case_number="SJ-2026-0042",
            warrant_id=warrant,
        )
    )
    code, output = query(federation, tmp_path, "--warrant", warrant)
    printed = json.loads(output)
    assert code == ExitCode.OK
    assert [(o.agency_id, o.outcome.value, len(o.sightings)) for o in answer.outcomes] == [
        (a["agency"], a["outcome"], len(a["sightings"])) for a in printed["agencies"]
    ]


CLI_IMPORT = re.compile(r"^\s*(from|import) alprfed\.cli\b", re.MULTILINE)


def test_library_code_never_imports_the_cli() -> None:
    """The demo and the library use alprfed.client; only the CLI imports the CLI."""
    import alprfed

    package = Path(alprfed.__file__).parent
    offenders = [
        str(path.relative_to(package))
        for path in package.rglob("*.py")
        if path.parts[len(package.parts)] not in ("cli", "__main__.py")
        and CLI_IMPORT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_warrant_show_prints_json_a_script_can_read(federation: Federation, tmp_path: Path) -> None:
    warrant = federation.warrant()
    clerk = profile(federation, tmp_path, "santa-clara-superior", "clerk-lee")
    result = CliRunner().invoke(
        cli, ["warrant", "show", warrant, "--json", "--profile", str(clerk)]
    )
    assert result.exit_code == ExitCode.OK, result.output
    shown = json.loads(result.output)
    assert shown["warrant_id"] == warrant
    assert shown["status"] == "registered"
    assert shown["warrant"]["court"] == "santa-clara-superior"
    assert shown["ledger_index"] > 0


def test_exigent_approve_prints_json_and_the_officer_can_use_it(
    federation: Federation, tmp_path: Path
) -> None:
    sergeant = profile(federation, tmp_path, "sjpd", "sgt-nguyen")
    result = CliRunner().invoke(
        cli,
        [
            "exigent",
            "approve",
            "--officer",
            "officer-garcia",
            "--plate",
            SUSPECT,
            "--purpose",
            "amber_alert",
            "--case",
            "SJ-AMBER-0001",
            "--json",
            "--profile",
            str(sergeant),
        ],
    )
    assert result.exit_code == ExitCode.OK, result.output
    approval = json.loads(result.output)
    assert (approval["officer"], approval["agency"], approval["supervisor"]) == (
        "officer-garcia",
        "sjpd",
        "sgt-nguyen",
    )
    assert approval["ledger_index"] > 0
