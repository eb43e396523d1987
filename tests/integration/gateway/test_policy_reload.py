"""Reloading the policy: published in the ledger before it takes effect, cache dropped,
and a policy that does not load leaves the old one in force."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from federations import start_federation, stop_federation

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.ledger import iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.messages import Outcome

GARCIA = "g, sjpd/officer-garcia, officer, sjpd\n"


def test_a_reloaded_policy_is_published_first_and_then_decides(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), policies)
    federation = start_federation(tmp_path / "fed", gateway_policies=policies)
    try:
        warrant = federation.warrant()
        before = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
        assert not federation.gateway.reload_policy()  # nothing changed: nothing published

        csv = policies / "policy.csv"
        assert GARCIA in csv.read_text()
        csv.write_text(csv.read_text().replace(GARCIA, ""))
        assert federation.gateway.reload_policy()
        after = federation.query("sjpd", "officer-garcia", warrant_id=warrant)

        (policies / "model.conf").write_text("[request_definition]\nnot a model\n")
        with pytest.raises(ConfigError):
            federation.gateway.reload_policy()
        still = federation.query("sjpd", "officer-garcia", warrant_id=warrant)
    finally:
        stop_federation(federation)

    sjpd = {"before": before, "after": after, "still": still}
    outcomes = {k: next(o for o in a.outcomes if o.agency_id == "sjpd") for k, a in sjpd.items()}
    assert outcomes["before"].outcome == Outcome.RESULTS
    # The Casbin decision cache did not outlive the policy that filled it.
    for key in ("after", "still"):
        assert outcomes[key].outcome == Outcome.DENIED
        assert [r.rule_id for r in outcomes[key].reasons] == ["casbin:query.create"]

    reader = LedgerReader.open_readonly(
        f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
    )
    try:
        entries = list(iter_entries(reader))
    finally:
        reader.close()
    bundles = [e for e in entries if e.kind == "policy_bundle"]
    assert len(bundles) == 2  # the broken policy was never published
    assert bundles[1].body["previous_sha256"] == bundles[0].body["bundle_sha256"]
    decisions = [e for e in entries if e.kind == "query_decision"]
    assert [d.body["policy_bundle"] for d in decisions] == [
        bundles[0].body["bundle_sha256"],
        bundles[1].body["bundle_sha256"],
        bundles[1].body["bundle_sha256"],
    ]
    # Published before it took effect: the new bundle precedes the first decision under it.
    assert bundles[1].index < decisions[1].index
