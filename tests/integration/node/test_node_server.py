"""A real agency node over mutual TLS on SQLite and PostgreSQL: ingest, signed search, refusals.

Every bad input gets the right status, stores nothing and returns nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from conftest import credential
from factories import DAY, requester, search_query, sign_query
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nodes import RunningNode, running_node

from agency_node.storage import NodeStore
from alprfed import canonical, wire
from alprfed.clock import FixedClock
from alprfed.errors import AlprfedError
from alprfed.messages import SearchQuery, results_digest, verify_receipt
from alprfed.models import AgencyKind, Camera, Position, SensitiveSite, TimeWindow
from alprfed.signing import Envelope, SigningKey
from alprfed.v1 import common_pb2, node_pb2

GATEWAY = ("federation", "gateway")
CAMERA = ("sjpd", "cam-1")
CLINIC = Camera(
    "cam-clinic", "Clinic entrance", Position(37_351_200, -121_858_300), SensitiveSite.HEALTH_CARE
)
STREET = Camera("cam-1", "1st & Santa Clara", Position(37_336_100, -121_890_600))


def sighting_pb(
    observed_at: int, plate: str = "7ABC123", camera: Camera = STREET, **fields: object
) -> common_pb2.Sighting:
    pb = common_pb2.Sighting(
        plate=plate,
        plate_state="CA",
        observed_at=observed_at,
        camera_id=camera.camera_id,
        position=wire.position_to_pb(camera.position),
        confidence_per_mille=900,
    )
    for name, value in fields.items():
        setattr(pb, name, value)
    return pb


def ingest(
    node: RunningNode,
    pki_dir: Path,
    *batches: node_pb2.IngestBatch,
    caller: tuple[str, str] = CAMERA,
) -> node_pb2.IngestSummary:
    return node.stub(credential(pki_dir, *caller)).IngestSightings(iter(batches), timeout=10)


def search(
    node: RunningNode,
    pki_dir: Path,
    envelope: Envelope,
    caller: tuple[str, str] = GATEWAY,
    evidence: bytes | None = None,
) -> node_pb2.SearchResponse:
    """Send a signed query with the evidence an honest gateway would attach (a real decision
    logged in the node's trusted ledger), unless ``evidence`` is given."""
    if evidence is None:
        try:
            query = SearchQuery.from_canonical(canonical.decode(envelope.payload))
            evidence = node.authority.evidence(query)
        except AlprfedError:
            pass  # a malformed query, or one no court would sign a warrant for
    request = node_pb2.SearchRequest(query=wire.envelope_to_pb(envelope), evidence=evidence or b"")
    return node.stub(credential(pki_dir, *caller)).Search(request, timeout=10)


def count(node: RunningNode) -> int:
    store = NodeStore.open(node.config.database_url)
    try:
        return store.count_sightings()
    finally:
        store.close()


def seed(node: RunningNode, pki_dir: Path, now: int) -> None:
    summary = ingest(
        node,
        pki_dir,
        node_pb2.IngestBatch(
            sequence=1,
            cameras=[wire.camera_to_pb(STREET), wire.camera_to_pb(CLINIC)],
            sightings=[
                sighting_pb(now - 3600),
                sighting_pb(now - 2 * DAY),
                sighting_pb(now - 600, camera=CLINIC),
                sighting_pb(now - 60, plate="OTHER1"),
            ],
        ),
    )
    assert (summary.batches, summary.sightings, summary.cameras) == (1, 4, 2)
    # A read that has aged past the node's 30-day retention since it was stored, and that
    # the next purge has not reached yet: the search must still never return it.
    aged = wire.sighting_from_pb(sighting_pb(now - 40 * DAY))
    with NodeStore.open(node.config.database_url) as store:
        store.add_batch([], [aged])


def test_ingest_refuses_reads_from_the_future_or_past_retention(
    node: RunningNode, pki_dir: Path, clock: FixedClock
) -> None:
    now = clock.now()
    for observed_at, reason in ((now + DAY, "in the future"), (now - 31 * DAY, "retention")):
        batch = node_pb2.IngestBatch(
            sequence=7,
            cameras=[wire.camera_to_pb(STREET)],
            sightings=[sighting_pb(now - 10), sighting_pb(observed_at)],
        )
        with pytest.raises(grpc.RpcError) as excinfo:
            ingest(node, pki_dir, batch)
        assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "batch 7, record 1" in excinfo.value.details()
        assert reason in excinfo.value.details()
    assert count(node) == 0


def test_health_reports_serving(node: RunningNode, pki_dir: Path) -> None:
    from alprfed.rpc.tls import secure_channel

    channel = secure_channel(node.address, credential(pki_dir, *GATEWAY))
    reply = health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service="alprfed.v1.AgencyNode"), timeout=5
    )
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_signed_search_returns_the_window_with_a_verifiable_receipt(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    seed(node, pki_dir, now)
    query = search_query(now, window=TimeWindow(now - 60 * DAY, now))
    response = search(node, pki_dir, sign_query(gateway_key, query))
    results = [wire.result_from_pb(s) for s in response.sightings]
    # In the window: the two street reads of 7ABC123; not OTHER1; not the read past retention
    # (California law sets no cap, this node's policy keeps 30 days); the clinic read is kept
    # because California's pack withholds no sensitive-site category.
    assert sorted(s.observed_at for s in results) == [now - 2 * DAY, now - 3600, now - 600]
    assert {s.plate for s in results} == {"7ABC123"}
    receipt = verify_receipt(
        wire.envelope_from_pb(response.receipt, field="receipt"),
        node_key=node.key.public,
        node_id="sjpd",
        query_id=query.query_id,
        sightings=results,
        refused_rules=[],
    )
    assert receipt.count == 3
    assert receipt.results_sha256 == results_digest(results)


@pytest.mark.parametrize(
    "attack", ["wrong_key", "tampered_byte", "other_addressee", "expired", "issued_in_future"]
)
def test_unauthentic_queries_get_unauthenticated_and_nothing(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock, attack: str
) -> None:
    now = clock.now()
    seed(node, pki_dir, now)
    query = search_query(now)
    if attack == "wrong_key":
        envelope = sign_query(SigningKey.generate(), query)
    elif attack == "tampered_byte":
        good = sign_query(gateway_key, query)
        envelope = replace(good, payload=good.payload.replace(b'"homicide"', b'"homicidE"'))
    elif attack == "other_addressee":
        envelope = sign_query(gateway_key, replace(query, addressees=("chicago-pd",)))
    elif attack == "expired":
        envelope = sign_query(
            gateway_key, replace(query, issued_at=now - 400, expires_at=now - 340)
        )
    else:
        envelope = sign_query(
            gateway_key, replace(query, issued_at=now + 600, expires_at=now + 660)
        )
    with pytest.raises(grpc.RpcError) as excinfo:
        search(node, pki_dir, envelope)
    assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The caller learns nothing about which check failed.
    assert excinfo.value.details() == "request could not be authenticated"


def test_replayed_nonce_is_refused_even_after_a_restart(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    query = search_query(now)
    envelope = sign_query(gateway_key, query)
    node_key = SigningKey.generate()
    with running_node(
        tmp_path,
        pki_dir,
        agency="sjpd",
        state="CA",
        database_url=database_url,
        gateway_key=gateway_key,
        clock=clock,
        key=node_key,
    ) as node:
        seed(node, pki_dir, now)
        search(node, pki_dir, envelope)
        with pytest.raises(grpc.RpcError) as excinfo:
            search(node, pki_dir, envelope)
        assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
    # The same database behind a new process (and a new ledger to log a new decision in): the
    # old nonce under a new query id, with a decision of its own, is still a replay.
    (tmp_path / "restarted").mkdir()
    with running_node(
        tmp_path / "restarted",
        pki_dir,
        agency="sjpd",
        state="CA",
        database_url=database_url,
        gateway_key=gateway_key,
        clock=clock,
        key=node_key,
    ) as restarted:
        replay = replace(query, query_id="q-" + "d" * 30)
        with pytest.raises(grpc.RpcError) as excinfo:
            search(restarted, pki_dir, sign_query(gateway_key, replay))
        assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
        with NodeStore.open(restarted.config.database_url) as store:
            assert "replay" in store.access_log()[-1].reason


def test_a_nonce_used_before_is_refused_in_a_new_query_and_claims_nothing(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """The nonce is claimed with the query id and the access record, in one transaction: a
    refused replay must leave its query id unclaimed (the transaction rolled back)."""
    now = clock.now()
    seed(node, pki_dir, now)
    first = search_query(now)
    assert search(node, pki_dir, sign_query(gateway_key, first)).sightings
    replay = replace(first, query_id="q-" + "b" * 30)  # its own logged decision, old nonce
    with pytest.raises(grpc.RpcError) as excinfo:
        search(node, pki_dir, sign_query(gateway_key, replay))
    assert excinfo.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with NodeStore.open(node.config.database_url) as store:
        outcomes = [(r.query_id, r.outcome) for r in store.access_log()]
    assert outcomes == [(first.query_id, "answered"), (replay.query_id, "refused")]
    # The same query id with a nonce of its own is answered: the replay claimed nothing.
    fresh = replace(replay, nonce="c" * 32)
    assert search(node, pki_dir, sign_query(gateway_key, fresh)).sightings


@pytest.mark.parametrize(
    "window",
    [(0, -DAY), (DAY, 2 * DAY), (-900 * DAY, 0)],
    ids=["inverted", "future", "absurdly_long"],
)
def test_insane_window_gets_invalid_argument(
    node: RunningNode,
    pki_dir: Path,
    gateway_key: SigningKey,
    clock: FixedClock,
    window: tuple[int, int],
) -> None:
    now = clock.now()
    query = search_query(now, window=TimeWindow(now + window[0], now + window[1]))
    with pytest.raises(grpc.RpcError) as excinfo:
        search(node, pki_dir, sign_query(gateway_key, query))
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "window" in excinfo.value.details()


def test_node_applies_its_own_law_whatever_the_gateway_signed(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """Civ. Code 1798.90.55(b): California data never goes to a federal agency."""
    now = clock.now()
    seed(node, pki_dir, now)
    federal = requester(
        agency_id="ice-ero", officer_id="agent-reyes", state="DC", kind=AgencyKind.FEDERAL
    )
    query = search_query(now, requester=federal)
    response = search(node, pki_dir, sign_query(gateway_key, query))
    assert list(response.sightings) == []
    assert response.refusals
    assert all(r.state == "CA" and r.citation for r in response.refusals)
    refused = [r.rule_id for r in response.refusals]
    receipt = verify_receipt(
        wire.envelope_from_pb(response.receipt, field="receipt"),
        node_key=node.key.public,
        node_id="sjpd",
        query_id=query.query_id,
        sightings=[],
        refused_rules=refused,
    )
    assert receipt.refused_rules == tuple(refused)


@contextmanager
def washington_node(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> Iterator[RunningNode]:
    with running_node(
        tmp_path,
        pki_dir,
        agency="seattle-pd",
        state="WA",
        database_url=database_url,
        gateway_key=gateway_key,
        clock=clock,
        retention_seconds=None,
    ) as node:
        yield node


def wa_ingest(node: RunningNode, pki_dir: Path, *batches: node_pb2.IngestBatch) -> None:
    ingest(node, pki_dir, *batches, caller=("seattle-pd", "cam-1"))


def test_sensitive_site_reads_are_refused_at_storage_where_the_law_says_so(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    batch = node_pb2.IngestBatch(
        sequence=1,
        cameras=[wire.camera_to_pb(STREET), wire.camera_to_pb(CLINIC)],
        sightings=[sighting_pb(now - 3600), sighting_pb(now - 600, camera=CLINIC)],
    )
    with washington_node(tmp_path, pki_dir, database_url, gateway_key, clock) as node:
        with pytest.raises(grpc.RpcError) as excinfo:
            wa_ingest(node, pki_dir, batch)
        stored = count(node)
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    refusal = excinfo.value.details() or ""
    assert "'cam-clinic' is registered at a health_care site" in refusal
    assert "WA-6002-sensitive-sites (WA, ESSB 6002 (2026))" in refusal
    assert stored == 0  # the batch is refused whole: not even the street camera's read


def test_reads_stored_before_a_site_was_registered_are_withheld_when_queried(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    unmarked = replace(CLINIC, sensitive_site=None)  # before anyone recorded what the site is
    with washington_node(tmp_path, pki_dir, database_url, gateway_key, clock) as node:
        wa_ingest(
            node,
            pki_dir,
            node_pb2.IngestBatch(
                sequence=1,
                cameras=[wire.camera_to_pb(STREET), wire.camera_to_pb(unmarked)],
                sightings=[sighting_pb(now - 3600), sighting_pb(now - 600, camera=unmarked)],
            ),
            node_pb2.IngestBatch(sequence=2, cameras=[wire.camera_to_pb(CLINIC)]),
        )
        local = requester(agency_id="seattle-pd", officer_id="officer-kim", state="WA")
        query = search_query(now, addressees=("seattle-pd",), requester=local)
        response = search(node, pki_dir, sign_query(gateway_key, query))
        stored = count(node)
    assert stored == 2
    assert [s.camera_id for s in response.sightings] == ["cam-1"]


def test_only_the_gateway_may_search(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    envelope = sign_query(gateway_key, search_query(clock.now()))
    with pytest.raises(grpc.RpcError) as excinfo:
        search(node, pki_dir, envelope, caller=("sjpd", "officer-garcia"))
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED


def test_another_agencys_camera_may_not_write(
    node: RunningNode, pki_dir: Path, clock: FixedClock
) -> None:
    batch = node_pb2.IngestBatch(
        sequence=1, cameras=[wire.camera_to_pb(STREET)], sightings=[sighting_pb(clock.now())]
    )
    with pytest.raises(grpc.RpcError) as excinfo:
        ingest(node, pki_dir, batch, caller=("chicago-pd", "cam-1"))
    assert excinfo.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert count(node) == 0


@pytest.mark.parametrize("bad", ["malformed_plate", "unknown_camera", "far_over_the_limit"])
def test_bad_batches_are_refused_whole_over_grpc(
    node: RunningNode, pki_dir: Path, clock: FixedClock, bad: str
) -> None:
    now = clock.now()
    good = node_pb2.IngestBatch(
        sequence=1, cameras=[wire.camera_to_pb(STREET)], sightings=[sighting_pb(now - 10)]
    )
    if bad == "malformed_plate":
        sightings = [sighting_pb(now - 5), sighting_pb(now - 4, plate="7AB#123")]
    elif bad == "unknown_camera":
        sightings = [sighting_pb(now - 5), sighting_pb(now - 4, camera_id="cam-nowhere")]
    else:
        sightings = [sighting_pb(now - 5)] * 20_000
    with pytest.raises(grpc.RpcError) as excinfo:
        ingest(node, pki_dir, good, node_pb2.IngestBatch(sequence=2, sightings=sightings))
    assert excinfo.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "batch 2" in excinfo.value.details()
    assert "1 earlier batch" in excinfo.value.details()
    assert count(node) == 1  # the first batch stays; nothing of the bad one


def test_node_info(node: RunningNode, pki_dir: Path) -> None:
    info = node.stub(credential(pki_dir, *GATEWAY)).GetNodeInfo(
        node_pb2.GetNodeInfoRequest(), timeout=5
    )
    assert (info.agency_id, info.state, info.public_key) == ("sjpd", "CA", node.key.public.raw)
    assert info.retention_seconds == 30 * DAY
