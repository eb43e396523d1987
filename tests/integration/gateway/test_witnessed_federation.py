"""A federation whose gateway and nodes demand the witnesses: three real C2SP witnesses over
HTTP, quorum 2. Queries are answered only on checkpoints the quorum cosigned; one witness
down changes nothing; two down and the federation fails closed."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from federations import Federation, start_federation, stop_federation
from tlog_tiles_client import HttpFetch, TlogTilesClient

from alprfed.ledger import NoteVerifier, verify_ledger, verify_tlog_proof
from alprfed.ledger.remote import GrpcLedgerSource
from alprfed.ledger.tlog_proof import TlogProof
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.messages import Outcome
from alprfed.rpc.tls import secure_channel


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    running = start_federation(tmp_path_factory.mktemp("witnessed") / "fed", witnessed=True)
    yield running
    stop_federation(running)


def policy(federation: Federation) -> WitnessPolicy:
    return WitnessPolicy.load(federation.layout.witness_policy)


def cosigners(federation: Federation, receipt: str) -> set[str]:
    return set(policy(federation).check(TlogProof.parse(receipt).checkpoint).cosigners)


def test_answers_rest_on_checkpoints_the_quorum_cosigned(federation: Federation) -> None:
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    assert any(o.outcome == Outcome.RESULTS and o.sightings for o in answer.outcomes)
    assert len(cosigners(federation, answer.ledger_proof)) >= 2
    vkey = NoteVerifier.from_vkey(federation.layout.vkey_file.read_text().strip())
    receipt = verify_tlog_proof(
        answer.ledger_proof,
        [vkey],
        origin=federation.layout.spec.origin,
        witness_policy=policy(federation),
    )
    assert receipt.entry.body["query_id"] == answer.query_id
    assert receipt.entry.kind == "query_decision"
    with secure_channel(
        f"localhost:{federation.gateway.port}",
        federation.tls("ca-state-auditor", "auditor-patel"),
    ) as channel:
        report = verify_ledger(GrpcLedgerSource(channel), [vkey], witness_policy=policy(federation))
    assert len(report.cosigners) >= 2


def test_the_gateway_serves_its_witnessed_log_as_tiles(federation: Federation) -> None:
    """A tlog-tiles client written from the spec alone follows the gateway's tiles server: the
    checkpoint it gets carries the witness quorum, and the tiles rebuild its root."""
    federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    assert federation.gateway.server is not None
    port = federation.gateway.server.tiles_port
    assert port
    vkey = federation.layout.vkey_file.read_text().strip()
    client = TlogTilesClient(HttpFetch(f"http://localhost:{port}/"), vkey)
    checkpoint = client.update()
    assert checkpoint.size >= 3
    note = urllib.request.urlopen(f"http://localhost:{port}/checkpoint", timeout=5).read()
    assert len(policy(federation).check(note.decode()).cosigners) >= 2


def test_concurrent_queries_each_rest_on_a_checkpoint_the_quorum_cosigned(
    federation: Federation,
) -> None:
    """Queries at once: the ledger batches their decisions and the witnesses skip checkpoints
    they had no time for, so a query's evidence and receipt may have to be built on a later
    checkpoint than its own batch's. Each answer still proves its own query, witnessed."""
    warrant = federation.warrant()
    vkey = NoteVerifier.from_vkey(federation.layout.vkey_file.read_text().strip())
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda _: federation.query("sjpd", "officer-garcia", warrant_id=warrant),
                range(16),
            )
        )
    for answer in answers:
        assert any(o.outcome == Outcome.RESULTS and o.sightings for o in answer.outcomes)
        receipt = verify_tlog_proof(
            answer.ledger_proof,
            [vkey],
            origin=federation.layout.spec.origin,
            witness_policy=policy(federation),
        )
        assert receipt.entry.body["query_id"] == answer.query_id
        assert receipt.entry.kind == "query_decision"
        assert receipt.entry.index < answer.ledger_index
    assert len({a.query_id for a in answers}) == len(answers)


def test_one_witness_down_the_federation_is_still_witnessed(federation: Federation) -> None:
    federation.witnesses.pop("aclu-norcal").stop()
    answer = federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    assert answer.complete or any(o.sightings for o in answer.outcomes)
    assert cosigners(federation, answer.ledger_proof) == {
        "ca-state-auditor",
        "santa-clara-superior",
    }


def test_below_quorum_nothing_is_sent_and_the_officer_gets_an_error(
    federation: Federation,
) -> None:
    """Runs last in this module: it leaves one witness of three."""
    federation.witnesses.pop("aclu-norcal", None)
    federation.witnesses.pop("santa-clara-superior").stop()
    with pytest.raises(grpc.RpcError) as caught:
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant(), timeout=8)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "could not be witnessed" in (caught.value.details() or "")
