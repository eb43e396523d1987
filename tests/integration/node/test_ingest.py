"""ingest_stream with real protobuf messages into a real database (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from agency_node.ingest import MAX_BATCH_CAMERAS, MAX_BATCH_SIGHTINGS, ingest_stream
from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from alprfed.errors import BatchRejected
from alprfed.v1 import common_pb2, node_pb2

# Tests not about observation times accept any.
ANY_TIME = ObservationBounds(oldest=0, newest=2**62)

CAMERA = common_pb2.Camera(
    camera_id="cam-7",
    name="Granby St & Brambleton Ave",
    position=common_pb2.Position(latitude_e6=36_853_000, longitude_e6=-76_287_000),
)


def sighting_pb(
    observed_at: int, plate: str = "ABC-1234", camera_id: str = "cam-7"
) -> common_pb2.Sighting:
    return common_pb2.Sighting(
        plate=plate,
        plate_state="va",
        observed_at=observed_at,
        camera_id=camera_id,
        position=common_pb2.Position(latitude_e6=36_853_010, longitude_e6=-76_287_020),
        vehicle_make="Honda",
        vehicle_model="Accord",
        vehicle_color="Blue",
        confidence_per_mille=912,
    )


def batch(sequence: int, times: list[int], **fields: object) -> node_pb2.IngestBatch:
    return node_pb2.IngestBatch(
        sequence=sequence,
        cameras=[CAMERA] if sequence == 1 else [],
        sightings=[sighting_pb(t, **fields) for t in times],
    )


class Recorder:
    """A client stream that notes how far the node read it."""

    def __init__(self, batches: list[node_pb2.IngestBatch]) -> None:
        self.batches = batches
        self.read = 0

    def __iter__(self) -> Iterator[node_pb2.IngestBatch]:
        for item in self.batches:
            self.read += 1
            yield item


def test_stream_is_stored_and_normalized(store: NodeStore, now: int) -> None:
    summary = ingest_stream(
        store, [batch(1, [now - 30, now - 20]), batch(2, [now - 10])], bounds=ANY_TIME
    )

    assert (summary.batches, summary.sightings, summary.cameras) == (2, 3, 1)
    found = store.find_sightings("ABC1234", now - 60, now)
    assert [s.observed_at for s in found] == [now - 30, now - 20, now - 10]
    assert {(s.plate, s.plate_state, s.vehicle_color) for s in found} == {("ABC1234", "VA", "blue")}


def test_bad_record_refuses_its_batch_and_keeps_earlier_ones(store: NodeStore, now: int) -> None:
    second = batch(2, [now - 9, now - 8, now - 7, now - 6])
    second.sightings[2].plate = "AB$123"
    stream = Recorder([batch(1, [now - 30]), second, batch(3, [now - 1])])

    with pytest.raises(BatchRejected) as refused:
        ingest_stream(store, stream, bounds=ANY_TIME)

    error = refused.value
    assert (error.sequence, error.position, error.stored_batches) == (2, 2, 1)
    assert "plate" in str(error)
    assert "1 earlier batch(es) of this stream were stored" in str(error)
    assert [s.observed_at for s in store.find_sightings("ABC1234", 0, now)] == [now - 30]
    assert stream.read == 2  # nothing after the refused batch was consumed


def test_unknown_camera_refuses_the_batch_at_its_position(store: NodeStore, now: int) -> None:
    first = batch(1, [now - 5, now - 4])
    first.sightings[1].camera_id = "cam-unregistered"

    with pytest.raises(BatchRejected) as refused:
        ingest_stream(store, [first], bounds=ANY_TIME)

    assert (refused.value.sequence, refused.value.position) == (1, 1)
    assert "cam-unregistered" in str(refused.value)
    assert store.count_sightings() == 0
    assert store.known_camera_ids(["cam-7"]) == set()  # the batch's camera went with it


def test_oversized_batch_is_refused_before_anything_is_stored(store: NodeStore, now: int) -> None:
    huge = batch(1, [now - 1] * (MAX_BATCH_SIGHTINGS + 1))

    with pytest.raises(BatchRejected, match=f"limit of {MAX_BATCH_SIGHTINGS}") as refused:
        ingest_stream(store, [huge], bounds=ANY_TIME)

    assert refused.value.position is None
    assert store.count_sightings() == 0


def test_too_many_cameras_are_refused(store: NodeStore) -> None:
    cameras = [
        common_pb2.Camera(camera_id=f"cam-{i}", name=f"Camera {i}", position=CAMERA.position)
        for i in range(MAX_BATCH_CAMERAS + 1)
    ]

    with pytest.raises(BatchRejected, match=f"limit of {MAX_BATCH_CAMERAS}"):
        ingest_stream(store, [node_pb2.IngestBatch(sequence=4, cameras=cameras)], bounds=ANY_TIME)

    assert store.known_camera_ids(["cam-0"]) == set()


def test_bad_camera_is_named_by_its_index(store: NodeStore, now: int) -> None:
    bad = batch(1, [now - 1])
    bad.cameras.append(common_pb2.Camera(camera_id="cam-8", name="Clinic", sensitive_site="spa"))

    with pytest.raises(BatchRejected, match="camera 1: position") as refused:
        ingest_stream(store, [bad], bounds=ANY_TIME)

    assert refused.value.sequence == 1
    assert store.count_sightings() == 0


def test_empty_stream_stores_nothing(store: NodeStore) -> None:
    summary = ingest_stream(store, [], bounds=ANY_TIME)

    assert (summary.batches, summary.sightings, summary.cameras) == (0, 0, 0)
