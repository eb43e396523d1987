"""`alprfed report build`: a static site from a ledger that verifies, and from no other.

The ledger comes from a real federation (conftest.py); the commands run as a user runs them.
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from report_ledger import (
    FORMULA_CASE,
    SUSPECT,
    BuiltLedger,
    serve_report,
    tamper_first_decision,
)

from alprfed.cli.ledger import load_verifiers
from alprfed.clock import SYSTEM_CLOCK
from alprfed.ledger import LedgerStore, PendingEntry
from alprfed.ledger.reader import LedgerReader
from alprfed.report.downloads import ACCESS_LOG_COLUMNS
from alprfed.signing import SigningKey

POLICIES = Path(__file__).resolve().parents[3] / "policies"


def run(*args: str) -> Result:
    from alprfed.cli.main import cli

    return CliRunner().invoke(cli, list(args))


def build(ledger: BuiltLedger, out: Path, *trust: str, url: str = "") -> Result:
    """`alprfed report build`, trusting the witness policy unless ``trust`` says otherwise."""
    trust = trust or ("--witness-policy", ledger.witness_policy)
    return run("report", "--database", url or ledger.url, "build", "--out", str(out), *trust)


def audit_output(ledger: BuiltLedger) -> str:
    """What `alprfed ledger audit --json` prints, trusting the same witness policy."""
    policy = ("--witness-policy", ledger.witness_policy)
    result = run("ledger", "--database", ledger.url, "audit", *policy, "--json")
    assert result.exit_code == 0, result.output
    return result.output


def audit_json(ledger: BuiltLedger) -> dict[str, object]:
    return dict(json.loads(audit_output(ledger)))


def site_files(out: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


def test_the_report_republishes_ledger_audit_json_exactly(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    result = build(ledger, tmp_path / "site")
    assert result.exit_code == 0, result.output
    assert str(tmp_path / "site" / "index.html") in result.output
    assert (tmp_path / "site" / "audit.json").read_text() == audit_output(ledger)
    audit = audit_json(ledger)
    document = json.loads((tmp_path / "site" / "report.json").read_text())
    assert document["audit"] == audit
    made = {a: v["queries_made"] for a, v in document["agencies"].items() if v["queries_made"]}
    assert made == audit["by_requester"]
    assert audit["awaiting_review"] == [ledger.exigent_query]


def test_build_draws_a_bar_for_each_pass_over_the_entries_when_forced(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    result = build(
        ledger, tmp_path / "site", "--witness-policy", ledger.witness_policy, "--progress"
    )
    assert result.exit_code == 0, result.output
    reader = LedgerReader.open_readonly(ledger.url)
    size = reader.size()
    reader.close()
    for pass_ in ("verifying", "compiling"):
        assert pass_ in result.stderr
    assert result.stderr.count(f"{size}/{size}") >= 2, result.stderr
    assert "report built" in result.stdout


def test_no_plate_in_clear_anywhere_in_the_site(ledger: BuiltLedger, tmp_path: Path) -> None:
    assert build(ledger, tmp_path / "site").exit_code == 0
    for name, data in site_files(tmp_path / "site").items():
        assert SUSPECT.encode() not in data.upper(), name


def test_the_access_log_is_laid_out_like_vendor_audit_exports(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    assert build(ledger, tmp_path / "site").exit_code == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "access-log.csv").read_text())))
    assert tuple(rows[0])[:7] == (
        "date",
        "agency",
        "officer",
        "purpose",
        "case_number",
        "networks_searched",
        "outcome",
    )
    assert tuple(rows[0]) == ACCESS_LOG_COLUMNS
    assert len(rows) == audit_json(ledger)["queries"]
    by_case = {r["case_number"]: r for r in rows}
    ice = by_case["ICE-1"]
    assert (ice["agency"], ice["officer"], ice["purpose"]) == (
        "ice-ero",
        "agent-reyes",
        "immigration_enforcement",
    )
    assert (ice["networks_searched"], ice["outcome"]) == ("0", "refused")
    exigent = by_case["A-1"]
    assert (exigent["authority"], exigent["query_id"]) == ("exigent", ledger.exigent_query)


def test_a_case_number_that_is_a_formula_stays_text_in_every_csv(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    """CSV injection: an insider's case number that a spreadsheet would run (and use to send
    the auditor's sheet elsewhere) is written as text, behind an apostrophe."""
    assert build(ledger, tmp_path / "site").exit_code == 0
    for name in ("access-log.csv", "queries.csv", "refusals.csv"):
        for row in csv.reader(io.StringIO((tmp_path / "site" / name).read_text())):
            assert not any(cell.startswith(("=", "+", "-", "@")) for cell in row), (name, row)
    rows = list(csv.DictReader(io.StringIO((tmp_path / "site" / "access-log.csv").read_text())))
    (chicago,) = [r for r in rows if r["agency"] == "chicago-pd"]
    assert chicago["case_number"] == "'" + FORMULA_CASE


def test_an_out_directory_that_is_not_a_report_is_never_replaced(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    """Say, a web root that already serves a site of its own."""
    out = tmp_path / "www"
    out.mkdir()
    (out / "index.html").write_text("the city's own home page")
    result = build(ledger, out)
    assert result.exit_code != 0
    assert "--out" in result.output
    assert [p.name for p in out.iterdir()] == ["index.html"]
    assert (out / "index.html").read_text() == "the city's own home page"


def test_the_pages_cite_the_statutes_and_flag_what_is_worth_a_look(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    assert build(ledger, tmp_path / "site").exit_code == 0
    ice = (tmp_path / "site" / "agency-ice-ero.html").read_text()
    pack = tomllib.loads((POLICIES / "states" / "CA.toml").read_text())
    (rule,) = [r for r in pack["rule"] if r["id"] == "CA-7284-6-immigration-holder"]
    # the rule, its state and the law pack's citation, side by side in one row
    assert re.search(
        r"<td class=\"mono\">CA-7284-6-immigration-holder</td><td>CA</td><td>"
        + re.escape(html.escape(rule["citation"]))
        + "</td>",
        ice,
    )
    anomalies = (tmp_path / "site" / "anomalies.html").read_text()
    assert "protected purpose" in anomalies
    assert "far beyond its state" not in anomalies  # asked everywhere, searched no further
    norfolk = (tmp_path / "site" / "agency-norfolk-pd.html").read_text()
    assert "Signed purge reports" in norfolk
    assert "retention is 21.0 days" in norfolk


def test_a_report_needs_a_witness_policy_or_says_it_has_none(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    result = build(ledger, tmp_path / "site", "--key", ledger.vkey)
    assert result.exit_code != 0
    assert "--witness-policy" in result.output
    assert not (tmp_path / "site").exists()
    result = build(ledger, tmp_path / "site", "--key", ledger.vkey, "--unwitnessed")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "site" / "index.html").read_text()
    assert "no witness policy was required" in page
    assert "No witness cosignature was checked" in page


def test_a_tampered_ledger_produces_no_report_and_leaves_the_last_one(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    url, out = ledger.copy(tmp_path), tmp_path / "site"
    assert build(ledger, out, url=url).exit_code == 0
    before = site_files(out)
    index = tamper_first_decision(url)
    result = build(ledger, out, url=url)
    assert result.exit_code != 0
    assert f"entry {index}" in result.output
    assert "Traceback" not in result.output
    assert site_files(out) == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site")]  # no staging left


def _append(ledger: BuiltLedger, url: str, entry: PendingEntry) -> int:
    """Append as the gateway would, signing the new checkpoint with the ledger key."""
    store = LedgerStore.open(
        url,
        origin=ledger.federation.layout.spec.origin,
        signer=SigningKey.load(ledger.federation.layout.root / "keys" / "ledger.pem"),
        clock=SYSTEM_CLOCK,
    )
    try:
        (appended,) = store.append_batch([entry])
    finally:
        store.close()
    return appended.index


def _forge_allowed(ledger: BuiltLedger, url: str) -> int:
    """What a gateway operator holding the ledger key can do: log, correctly signed, a decision
    its own published policy refuses (the warrantless query let through to San Jose)."""
    reader = LedgerReader.open_readonly(url)
    try:
        from alprfed.ledger import iter_entries

        refused = next(
            e
            for e in iter_entries(reader, kinds=["query_decision"])
            if not e.body["warrant_id"] and e.body["requester"]["organization"] == "sjpd"
        )
    finally:
        reader.close()
    body = json.loads(json.dumps(refused.body))
    for decision in body["decisions"]:
        if decision["agency"] == "sjpd":
            decision["allowed"], decision["refused_by"] = True, []
    return _append(ledger, url, PendingEntry("query_decision", body, (SUSPECT,)))


def test_a_ledger_whose_decisions_contradict_its_policy_produces_no_report(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    url = ledger.copy(tmp_path)
    forged = _forge_allowed(ledger, url)
    # Witnesses would cosign it too (it extends the log consistently), so only the replay
    # can catch it: the build trusts the log key alone to show that the replay does.
    result = build(ledger, tmp_path / "site", "--key", ledger.vkey, "--unwitnessed", url=url)
    assert result.exit_code != 0
    assert f"entry {forged}" in result.output
    assert "logged allowed" in result.output
    assert not (tmp_path / "site").exists()


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_serve_rebuilds_as_the_log_grows_and_withdraws_a_tampered_report(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    url = ledger.copy(tmp_path)
    # The entries this test appends are signed by the log key but not cosigned (no witness
    # runs against the copy), so this server trusts the log key alone. It polls once an hour:
    # the test calls refresh() itself, so nothing depends on timing.
    server, reader = serve_report(url, tmp_path / "site", load_verifiers([ledger.vkey]), None)
    try:
        status, page = _get(server.url + "index.html")
        assert status == 200
        before = json.loads(_get(server.url + "report.json")[1])["federation"]["size"]
        assert f'id="metric-size">{before}<' in page
        assert not server.refresh()  # nothing new: no rebuild

        _append(ledger, url, PendingEntry("key_rotation", {"role": "t", "old": None, "new": "k"}))
        assert server.refresh()
        status, page = _get(server.url + "index.html")
        assert (status, f'id="metric-size">{before + 1}<' in page) == (200, True)

        tamper_first_decision(url)
        # A new checkpoint, so the server looks again.
        _append(ledger, url, PendingEntry("key_rotation", {"role": "t", "old": "k", "new": "l"}))
        assert server.refresh()
        status, page = _get(server.url + "index.html")
        assert status == 503
        assert "does not verify" in page
        assert "metric-size" not in page
    finally:
        server.stop()
        reader.close()


@pytest.mark.parametrize("name", ["index.html", "anomalies.html", "downloads.html"])
def test_pages_need_no_script(ledger: BuiltLedger, tmp_path: Path, name: str) -> None:
    assert build(ledger, tmp_path / "site").exit_code == 0
    assert "<script" not in (tmp_path / "site" / name).read_text().lower()


def test_alprfed_report_serve_runs_as_a_process_until_terminated(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    """The command as an operator runs it: it prints where it serves, serves the verified
    report there, and stops cleanly on SIGTERM."""
    out = tmp_path / "site"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "alprfed",
            "report",
            "--database",
            ledger.url,
            "serve",
            "--out",
            str(out),
            "--witness-policy",
            ledger.witness_policy,
            "--listen",
            "127.0.0.1:0",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        first = process.stderr.readline()  # printed once the first build is in place
        match = re.fullmatch(r"serving the transparency report at (http://\S+/)\n", first)
        assert match, first
        status, page = _get(match.group(1) + "index.html")
        assert status == 200
        assert "The ledger verifies" in page
        assert (out / "audit.json").read_text() == audit_output(ledger)
    finally:
        process.terminate()
        _, rest = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "Traceback" not in rest


def test_build_json_says_how_many_verified_entries_the_site_was_built_from(
    ledger: BuiltLedger, tmp_path: Path
) -> None:
    out = tmp_path / "site"
    policy = ("--witness-policy", ledger.witness_policy)
    result = run("report", "--database", ledger.url, "build", "--out", str(out), *policy, "--json")
    assert result.exit_code == 0, result.output
    built = json.loads(result.stdout)
    assert built["index"] == str(out / "index.html")
    assert Path(built["index"]).is_file()
    assert built["verified_entries"] == audit_json(ledger)["entries"]
