"""A court's jurisdiction is judged at every query against the federation file in force.

A warrant registered while its court had jurisdiction stops authorizing anything once the
federation file narrows the court's states (rule ``warrant.court-jurisdiction``); a federal
court whose district state is widened to California passes the gateway's gate (San Jose's node,
trusting its own file, still refuses it). The audit replay
reaches the same verdicts from the ledger alone, and catches a gateway that logs otherwise.
"""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from federations import (
    Federation,
    forge_allowed_and_replay,
    start_federation,
    stop_federation,
)

from alprfed.ledger import iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.messages import Outcome
from alprfed.policy.replay import audit_entries

JURISDICTION = "warrant.court-jurisdiction"


def set_court_states(federation: Federation, court_id: str, states: list[str]) -> None:
    """Rewrite one court's ``states`` in the federation file, as its operators would."""
    path = federation.layout.federation_file
    text = path.read_text()
    block = re.compile(
        rf'(\[\[court\]\]\nid = "{re.escape(court_id)}"\n(?:(?!\[\[).*\n)*?)states = .*\n'
    )
    quoted = ", ".join(f'"{s}"' for s in states)
    changed, count = block.subn(lambda m: f"{m.group(1)}states = [{quoted}]\n", text)
    assert count == 1, f"no states line for court {court_id}"
    path.write_text(changed)


def outcome(answer: object, agency: str) -> tuple[Outcome, list[str]]:
    found = next(o for o in answer.outcomes if o.agency_id == agency)  # type: ignore[attr-defined]
    return found.outcome, [r.rule_id for r in found.reasons]


def test_a_court_that_lost_jurisdiction_authorizes_nothing_and_replay_agrees(
    tmp_path: Path,
) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        state_warrant = federation.warrant()  # Santa Clara's court, for San Jose
        before = federation.query("sjpd", "officer-garcia", warrant_id=state_warrant)
        with pytest.raises(grpc.RpcError) as refused:
            federation.register(federation.sign_warrant("us-district-dc", agency="sjpd"))
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

        # The federation narrows the state court (say, a mistaken entry corrected) and widens
        # the federal court's district to California.
        set_court_states(federation, "santa-clara-superior", ["NV"])
        set_court_states(federation, "us-district-dc", ["DC", "CA"])
        assert federation.gateway.reload_policy()
        after = federation.query("sjpd", "officer-garcia", warrant_id=state_warrant)
        federal_warrant = federation.warrant(court="us-district-dc")  # now registrable
        federal = federation.query("sjpd", "officer-garcia", warrant_id=federal_warrant)
    finally:
        stop_federation(federation)

    assert outcome(before, "sjpd")[0] == Outcome.RESULTS
    # Registered under the old file, refused under the new one, at every agency, with the
    # reason naming court, agency and state.
    for agency in ("sjpd", "chicago-pd", "norfolk-pd"):
        state, rules = outcome(after, agency)
        assert state == Outcome.DENIED
        assert JURISDICTION in rules
    (reason,) = [r for r in after.outcomes[0].reasons if r.rule_id == JURISDICTION]
    assert "santa-clara-superior" in reason.message
    assert "sjpd" in reason.message
    assert "CA" in reason.message
    # The gateway now lets the federal court's warrant through; San Jose's node still judges
    # it by its own trust file (where that court's district is DC only) and refuses it.
    state, rules = outcome(federal, "sjpd")
    assert JURISDICTION not in rules
    assert state == Outcome.EVIDENCE_REFUSED

    url = f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
    reader = LedgerReader.open_readonly(url)
    try:
        honest = audit_entries(iter_entries(reader))
        decisions = list(iter_entries(reader, kinds=["query_decision"]))
    finally:
        reader.close()
    # Replayed with the bundle each decision names: the same verdicts, the new rule included.
    assert honest.clean, honest.disagreements
    assert honest.queries == 3
    logged = {d["agency"]: d["refused_by"] for d in decisions[1].body["decisions"]}
    assert JURISDICTION in logged["sjpd"]

    # A gateway that logs the out-of-jurisdiction query as allowed at San Jose is caught.
    index, caught = forge_allowed_and_replay(federation, decisions[1].body, "sjpd")
    assert [(d.index, d.agency) for d in caught.disagreements] == [(index, "sjpd")]
    assert caught.disagreements[0].replayed == f"denied: {JURISDICTION}"
