"""A dead, a hanging and a lying node: each costs only its own agency, never the answer.

Real faults: a node that is not running (connection refused), a listener that accepts TCP and
never speaks (the TLS handshake hangs), and a real node signing with a key the federation does
not list (its receipts cannot verify).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from federations import Federation, start_federation, stop_federation

from agency_node.server import create_server
from alprfed.config import load_node_config
from alprfed.messages import Outcome
from alprfed.signing import SigningKey


@pytest.fixture
def black_hole() -> Iterator[int]:
    """A port that completes TCP handshakes and then says nothing, ever."""
    with socket.socket() as listener:
        listener.bind(("localhost", 0))
        listener.listen(64)
        yield listener.getsockname()[1]


def outcomes(federation: Federation, **query: object) -> tuple[dict[str, Outcome], bool]:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant(), **query)
    return {o.agency_id: o.outcome for o in answer.outcomes}, answer.complete


def test_a_dead_node_makes_the_answer_partial_not_failed(tmp_path: Path) -> None:
    federation = start_federation(tmp_path / "fed", skip_nodes=("chicago-pd",))
    try:
        found, complete = outcomes(federation)
    finally:
        stop_federation(federation)
    assert found == {
        "sjpd": Outcome.RESULTS,
        "chicago-pd": Outcome.UNAVAILABLE,
        "norfolk-pd": Outcome.DENIED,
    }
    assert not complete


def test_a_hanging_node_times_out_inside_the_callers_deadline(
    tmp_path: Path, black_hole: int
) -> None:
    federation = start_federation(
        tmp_path / "fed", node_ports={"chicago-pd": black_hole}, skip_nodes=("chicago-pd",)
    )
    try:
        # The client's own deadline is 3 s: had the gateway waited on the hanging node past
        # it, this call would fail with DEADLINE_EXCEEDED instead of answering.
        answer = federation.query(
            "sjpd", "officer-garcia", warrant_id=federation.warrant(), timeout=3.0
        )
    finally:
        stop_federation(federation)
    found = {o.agency_id: o for o in answer.outcomes}
    assert found["chicago-pd"].outcome == Outcome.TIMED_OUT
    assert found["sjpd"].outcome == Outcome.RESULTS
    assert found["sjpd"].sightings
    assert not answer.complete


def test_a_node_whose_receipts_do_not_verify_has_its_results_dropped(tmp_path: Path) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        federation.nodes.pop("chicago-pd").stop(grace=None)
        impostor_key = tmp_path / "impostor.pem"
        SigningKey.generate().save(impostor_key)
        config = replace(
            load_node_config(federation.layout.node_config("chicago-pd")), signing_key=impostor_key
        )
        server, _ = create_server(config)
        server.start()
        federation.nodes["chicago-pd"] = server
        answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    finally:
        stop_federation(federation)
    chicago = next(o for o in answer.outcomes if o.agency_id == "chicago-pd")
    assert chicago.outcome == Outcome.BAD_RECEIPT
    assert chicago.sightings == ()
    assert not answer.complete
