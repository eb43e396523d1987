"""A witnessed federation (three real witnesses, quorum 2): the gateway's witnessing metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from federations import stop_federation
from observed import ObservedFederation, sample, scrape, start_observed_federation
from probe_client import http_get

from alprfed.demo.spec import DEMO
from alprfed.messages import Outcome


@pytest.fixture(scope="module")
def witnessed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ObservedFederation]:
    root: Path = tmp_path_factory.mktemp("witnessed") / "fed"
    running = start_observed_federation(root, witnessed=True)
    try:
        yield running
    finally:
        stop_federation(running.federation)


def test_a_witnessed_query_is_timed_and_every_witness_is_up(witnessed: ObservedFederation) -> None:
    federation = witnessed.federation
    warrant = federation.warrant()
    before = scrape(witnessed.gateway_metrics_port)

    answer = federation.query("sjpd", "officer-garcia", warrant_id=warrant)

    after = scrape(witnessed.gateway_metrics_port)
    assert next(o for o in answer.outcomes if o.agency_id == "sjpd").outcome is Outcome.RESULTS
    timed = "alprfed_ledger_witnessing_seconds_count"
    assert sample(after, timed) > sample(before, timed)
    names = [w.witness_id for w in DEMO.witnesses]
    cosigned = {
        name: sample(after, "alprfed_gateway_witness_cosignatures_total", witness=name)
        - sample(before, "alprfed_gateway_witness_cosignatures_total", witness=name)
        for name in names
    }
    assert sum(c > 0 for c in cosigned.values()) >= DEMO.witness_quorum
    assert all(sample(after, "alprfed_gateway_witness_up", witness=n) == 1 for n in names)
    assert sample(after, "alprfed_ledger_entries") >= answer.ledger_index + 1
    # Stored in the background after the answer; never behind what was stored before.
    published = "alprfed_ledger_published_entries"
    assert sample(after, published) >= sample(before, published)
    status, body = http_get(witnessed.gateway_metrics_port, "/readyz")
    assert (status, body.splitlines()[-1]) == (200, "witness_quorum: ok")
