"""`alprfed law show | explain`: what officers and counsel read, from the packs the gates apply.

The commands run in-process on the bundled packs; nothing is sent and nothing is logged.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from alprfed.cli.main import cli
from alprfed.config import bundled_policies_dir
from alprfed.models import US_STATES

JURISDICTIONS = sorted(US_STATES - {"PR", "GU", "VI", "AS", "MP"})


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["law", *args])
    return result.exit_code, result.output


def explain_json(*args: str) -> dict[str, Any]:
    code, output = run("explain", "--json", *args)
    assert code == 0, output
    value: dict[str, Any] = json.loads(output)
    return value


NM_FROM_TEXAS = ("--holder", "NM", "--requester-agency", "austin-pd", "--requester-state", "TX")


def test_explain_gives_the_law_on_each_side_of_an_effective_date() -> None:
    before = explain_json(*NM_FROM_TEXAS, "--purpose", "robbery", "--at", "2026-06-30T23:59:59Z")
    assert before["allowed"] is True
    verdicts = {r["id"]: r["verdict"] for r in before["rules"]}
    assert verdicts["NM-sb40-declaration"] == "not in force"
    after = explain_json(*NM_FROM_TEXAS, "--purpose", "robbery", "--at", "2026-07-01T00:00:00Z")
    assert after["allowed"] is False
    assert after["refused_by"] == ["NM-sb40-declaration"]
    rules = {r["id"]: r for r in after["rules"]}
    assert rules["NM-sb40-declaration"]["verdict"] == "refuses"
    assert rules["NM-sb40-declaration"]["source"] == "statute"
    assert rules["NM-sb40-declaration"]["urls"]
    assert rules["NM-sb40-protected-purposes"]["verdict"] == "allows"
    assert rules["federation-protected-purposes"]["role"] == "agreement"


def test_explain_counts_declarations_and_requester_rules() -> None:
    declared = explain_json(
        *NM_FROM_TEXAS, "--purpose", "robbery", "--declaration", "NM", "--at", "2026-08-01"
    )
    assert declared["allowed"] is True
    # California's SB 54 binds its own agencies whoever holds the data.
    california = explain_json(
        "--holder",
        "TX",
        "--requester-agency",
        "sjpd",
        "--requester-state",
        "CA",
        "--purpose",
        "immigration_enforcement",
    )
    assert "CA-7284-6-immigration-requester" in california["refused_by"]
    roles = {r["id"]: r["role"] for r in california["rules"]}
    assert roles["CA-7284-6-immigration-requester"] == "requester"
    assert roles["TX-no-statute-retention"] == "holder"


def test_explain_text_names_every_rule_in_full_and_says_what_it_is_not() -> None:
    code, output = run(
        "explain", "--holder", "CT", "--requester-agency", "austin-pd", "--requester-state", "TX",
        "--purpose", "robbery",
    )  # fmt: skip
    assert code == 0, output
    assert "state law: REFUSED" in output
    for rule_id in ("CT-pa26-14-recipient-states", "CT-pa26-14-attestation"):
        assert rule_id in output  # never cut short by a table's width
    assert "Public Act 26-14 (2026) [in force when checked]" in output
    assert "Not legal advice" in output


def test_show_prints_every_jurisdiction_as_its_own_pack() -> None:
    for state in JURISDICTIONS:
        code, output = run("show", state, "--json")
        assert code == 0, (state, output)
        pack = json.loads(output)
        assert pack["state"] == state
        assert pack["checked"] == "2026-12-02"
        assert all(rule["citation"] and rule["source"] for rule in pack["rules"])


def test_show_says_when_there_is_no_statute_and_lists_pending_bills() -> None:
    code, output = run("show", "NY")
    assert code == 0, output
    assert "No ALPR statute. General law that applies:" in output
    assert "pending (never enforced): S9890 (Apr 2026)" in output
    pack = json.loads(run("show", "NY", "--json")[1])
    assert pack["alpr_statute"] is False
    assert [b["bill"] for b in pack["pending"]][1] == "S9890 (Apr 2026)"


def test_show_marks_the_rules_in_force_at_a_time() -> None:
    before = json.loads(run("show", "NM", "--json", "--at", "2026-06-30T23:59:59Z")[1])
    after = json.loads(run("show", "NM", "--json", "--at", "2026-07-01T00:00:00Z")[1])
    marks = {r["id"]: r["in_force_at"] for r in before["rules"]}
    assert marks == {
        "NM-sb40-retention": True,  # the retention cap is kept on every day
        "NM-sb40-protected-purposes": False,
        "NM-sb40-declaration": False,
    }
    assert all(r["in_force_at"] for r in after["rules"])
    assert before["rules"][2]["effective"] == "2026-07-01"


def test_bad_input_is_one_line_naming_what_is_wrong(tmp_path: Path) -> None:
    code, output = run("show", "XX")
    assert code == 1
    assert output.count("\n") == 1
    assert "'XX' is not a US state or territory code" in output
    code, output = run("explain", *NM_FROM_TEXAS[:4], "--purpose", "robbery")  # no state
    assert code == 2
    assert "name the requester's state" in output
    code, output = run("explain", *NM_FROM_TEXAS, "--purpose", "robbery", "--prospective")
    assert code == 2
    assert "add --warrant" in output
    broken = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), broken)
    pack = broken / "states" / "NM.toml"
    pack.write_text(pack.read_text().replace("effective = 2026-07-01\n", "", 1))
    code, output = run("show", "NM", "--policies", str(broken))
    assert code == 1
    assert "Traceback" not in output
    assert "NM.toml: rule #1 (NM-sb40-retention): missing required key 'effective'" in output


def test_explain_takes_the_requester_from_the_federation_file(tmp_path: Path) -> None:
    from alprfed.signing import SigningKey

    federation = tmp_path / "federation.toml"
    federation.write_text(
        '[federation]\nname = "f"\norigin = "o.example/log"\n'
        f'gateway_key = "{SigningKey.generate().public.to_text()}"\n\n'
        '[[agency]]\nid = "fbi-albuquerque"\nname = "FBI Albuquerque"\nstate = "NM"\n'
        'kind = "federal"\ndeclarations = ["NM"]\n'
    )
    on_file = ("--federation", str(federation), "--at", "2026-08-01")
    ask = ("--holder", "NM", "--requester-agency", "fbi-albuquerque", "--purpose", "robbery")
    declared = explain_json(*ask, *on_file)
    assert declared["requester"] == {
        "agency": "fbi-albuquerque",
        "state": "NM",
        "kind": "federal",
        "pack": "NM",
    }
    assert declared["allowed"] is True  # its declaration filed with New Mexico counts
    code, output = run("explain", *ask[:2], "--requester-agency", "nobody", "--purpose",
                       "robbery", *on_file)  # fmt: skip
    assert code == 1
    assert "no agency 'nobody'" in output
