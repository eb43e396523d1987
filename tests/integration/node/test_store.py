"""NodeStore on a real database (SQLite and PostgreSQL): round trips, atomicity, purge, queue."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import pytest

from agency_node.storage import NodeStore, UnknownCamera
from alprfed.errors import ConfigError, FailedPrecondition, InvalidRequest, NotFound, Unavailable
from alprfed.models import Camera, Position, SensitiveSite, Sighting

HOUR = 3600
SightingMaker = Callable[..., Sighting]  # the make_sighting fixture


def stored_as(expected: list[Sighting], found: list[Sighting]) -> list[Sighting]:
    """``expected`` with the ids the database gave, so whole sightings can be compared."""
    return [replace(e, id=f.id) for e, f in zip(expected, found, strict=True)]


def test_sightings_round_trip_in_time_order_with_their_camera_site(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    batch = [
        make_sighting(now - 2 * HOUR, camera_id="cam-clinic"),
        make_sighting(now - 3 * HOUR),
        make_sighting(now - 1 * HOUR, camera_id="cam-2"),
        make_sighting(now - 2 * HOUR, plate="8XYZ999"),
    ]
    store.add_batch(street_cameras, batch)

    found = store.find_sightings("7ABC123", now - 10 * HOUR, now)

    expected = [batch[1], batch[0], batch[2]]
    assert found == stored_as(expected, found)
    assert [s.sensitive_site for s in found] == [
        None,
        SensitiveSite.REPRODUCTIVE_HEALTH_CARE,
        None,
    ]
    assert len({s.id for s in found}) == 3
    assert all(s.id > 0 for s in found)
    assert store.count_sightings() == 4


def test_window_is_inclusive_at_both_ends(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - t) for t in (100, 50, 10, 5)])

    found = store.find_sightings("7ABC123", now - 50, now - 10)

    assert [s.observed_at for s in found] == [now - 50, now - 10]


def test_equal_times_are_ordered_by_id(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    same_time = [make_sighting(now - 60, camera_id=c.camera_id) for c in street_cameras]
    store.add_batch(street_cameras, same_time)

    found = store.find_sightings("7ABC123", now - 60, now - 60)

    assert [s.camera_id for s in found] == ["cam-1", "cam-2", "cam-clinic"]
    assert [s.id for s in found] == sorted(s.id for s in found)


def test_plate_is_searched_in_its_normalized_form(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - 60, plate="7abc 123")])

    assert len(store.find_sightings("7ABC-123", now - HOUR, now)) == 1


def test_bad_sighting_at_position_k_stores_nothing_of_the_batch(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    new_camera = Camera("cam-new", "Alum Rock Ave & King Rd", Position(37_360_000, -121_840_000))
    batch = [make_sighting(now - t) for t in range(1, 6)]
    batch[3] = make_sighting(now - 4, camera_id="cam-nowhere")

    with pytest.raises(UnknownCamera) as refused:
        store.add_batch([*street_cameras, new_camera], batch)

    assert refused.value.position == 3
    assert refused.value.camera_id == "cam-nowhere"
    assert "sighting 3" in str(refused.value)
    assert store.count_sightings() == 0
    assert store.known_camera_ids(["cam-1", "cam-new"]) == set()


def test_camera_registered_by_an_earlier_batch_is_known(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.upsert_cameras(street_cameras)

    store.add_batch([], [make_sighting(now - 5, camera_id="cam-2")])

    assert [s.camera_id for s in store.find_sightings("7ABC123", now - 10, now)] == ["cam-2"]


def test_camera_upsert_replaces_and_marks_past_sightings_sensitive(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - 5, camera_id="cam-2")])
    moved = Camera(
        "cam-2",
        "Mosque on 4th St",
        Position(37_335_100, -121_887_000),
        SensitiveSite.PLACE_OF_WORSHIP,
    )

    assert store.upsert_cameras([street_cameras[1], moved]) == 1

    (found,) = store.find_sightings("7ABC123", now - 10, now)
    assert found.sensitive_site is SensitiveSite.PLACE_OF_WORSHIP


def test_an_upsert_never_clears_a_sensitive_site(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    clinic = street_cameras[2]
    store.add_batch(street_cameras, [make_sighting(now - 5, camera_id=clinic.camera_id)])
    renamed = Camera(clinic.camera_id, "Renamed, category left empty", clinic.position)
    store.upsert_cameras([renamed])  # e.g. a re-imported cameras CSV with an empty column
    (found,) = store.find_sightings("7ABC123", now - 10, now)
    assert found.sensitive_site is clinic.sensitive_site
    changed = Camera(clinic.camera_id, "Now a shelter", clinic.position, SensitiveSite.SHELTER)
    store.upsert_cameras([changed])  # a category may still be changed
    (found,) = store.find_sightings("7ABC123", now - 10, now)
    assert found.sensitive_site is SensitiveSite.SHELTER


def test_bulk_load_reports_progress_and_is_all_or_nothing(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    good = [make_sighting(now - t, plate=f"B{t:05d}") for t in range(1, 11)]
    progress: list[int] = []

    assert store.bulk_load(street_cameras, good, chunk_rows=4, on_progress=progress.append) == 10
    assert progress == [4, 4, 2]

    late_bad = [make_sighting(now - t) for t in range(1, 11)]
    late_bad[9] = make_sighting(now - 10, camera_id="cam-missing")
    with pytest.raises(UnknownCamera) as refused:
        store.bulk_load([], late_bad, chunk_rows=4)
    assert refused.value.position == 9
    assert store.count_sightings() == 10


def test_purge_deletes_strictly_before_the_cutoff_in_chunks(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - t) for t in range(1, 26)])

    deleted = store.purge_before(now - 10, chunk_rows=4)

    assert deleted == 15
    remaining = store.find_sightings("7ABC123", 0, now)
    assert [s.observed_at for s in remaining] == list(range(now - 10, now))


def test_ids_are_never_reused_after_everything_was_purged(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - 5), make_sighting(now - 4)])
    first_ids = {s.id for s in store.find_sightings("7ABC123", 0, now)}
    assert store.purge_before(now) == 2

    store.add_batch([], [make_sighting(now - 3)])

    (newer,) = store.find_sightings("7ABC123", 0, now)
    assert newer.id > max(first_ids)


def test_replayed_nonce_is_refused_and_survives_a_restart(database_url: str, now: int) -> None:
    with NodeStore.open(database_url) as first:
        assert first.claim_nonce("ab" * 16, now + 60) is True
        assert first.claim_nonce("ab" * 16, now + 60) is False
    with NodeStore.open(database_url) as reopened:
        assert reopened.claim_nonce("ab" * 16, now + 60) is False
        assert reopened.claim_nonce("cd" * 16, now + 60) is True


def test_concurrent_claims_of_one_nonce_have_exactly_one_winner(store: NodeStore, now: int) -> None:
    contenders = 8
    start = threading.Barrier(contenders)
    results: list[bool] = []
    lock = threading.Lock()

    def claim() -> None:
        start.wait()
        won = store.claim_nonce("ef" * 16, now + 60)
        with lock:
            results.append(won)

    threads = [threading.Thread(target=claim) for _ in range(contenders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False] * (contenders - 1) + [True]


def test_expired_nonces_are_forgotten_and_live_ones_kept(store: NodeStore, now: int) -> None:
    store.claim_nonce("01" * 16, now - 1)
    store.claim_nonce("02" * 16, now)
    store.claim_nonce("03" * 16, now + 1)

    assert store.forget_expired_nonces(now) == 1

    assert store.claim_nonce("01" * 16, now + 60) is True
    assert store.claim_nonce("02" * 16, now + 60) is False


def test_oversized_nonce_is_refused(store: NodeStore, now: int) -> None:
    with pytest.raises(InvalidRequest, match="nonce"):
        store.claim_nonce("a" * 129, now)


def test_purge_report_queue_delivers_in_order_and_idempotently(store: NodeStore) -> None:
    first = store.queue_purge_report("type/a", b'{"v":1}', "k1", b"sig-1")
    second = store.queue_purge_report("type/a", b'{"v":2}', "k1", b"sig-2")

    pending = store.pending_purge_reports()
    assert [r.id for r in pending] == [first, second]
    assert pending[0].envelope.payload == b'{"v":1}'
    assert pending[1].signature == b"sig-2"
    assert [r.id for r in store.pending_purge_reports(limit=1)] == [first]

    store.mark_purge_report_delivered(first, 41)
    store.mark_purge_report_delivered(first, 41)

    assert [r.id for r in store.pending_purge_reports()] == [second]
    with pytest.raises(FailedPrecondition, match="41"):
        store.mark_purge_report_delivered(first, 42)
    with pytest.raises(NotFound):
        store.mark_purge_report_delivered(second + 100, 1)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///:memory:", "sqlite://", "mysql://user@host/db", "postgresql+asyncpg://h/db"],
)
def test_unsupported_database_urls_are_refused(url: str) -> None:
    with pytest.raises(ConfigError):
        NodeStore.open(url)


def test_unreachable_server_is_reported_unavailable() -> None:
    with pytest.raises(Unavailable, match="cannot open the node database"):
        NodeStore.open("postgresql+psycopg://postgres@127.0.0.1:1/test")
