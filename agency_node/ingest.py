"""Ingest: turn a camera's stream of ``IngestBatch`` messages into stored sightings.

The contract (``AgencyNode.IngestSightings``, protos/alprfed/v1/node.proto):

- Batches are handled in stream order. Each batch is validated whole, then stored in one
  transaction: its cameras are upserted first, then its sightings. A batch is stored
  completely or not at all.
- A batch is refused whole when it holds more than MAX_BATCH_SIGHTINGS sightings or
  MAX_BATCH_CAMERAS cameras, when any camera or sighting fails validation (``alprfed.wire``
  names the field), when a sighting was observed in the future or earlier than the node's
  retention allows it to hold, when a sighting names a camera that is neither registered on
  this node nor part of the same batch, or when it comes from a camera registered (here or in
  the batch) at a sensitive site whose collection the node's law forbids (Washington; the
  reason cites the rule, state and statute). The stream then ends with ``BatchRejected``
  (INVALID_ARGUMENT): it names the batch's ``sequence`` (the client's counter), the 0-based
  ``position`` of the first bad sighting (none for an oversized batch or a bad camera, whose
  index the message names instead) and the reason.
- Batches before the refused one stay stored; the error says how many, so a client resumes
  with the refused batch after fixing it. Nothing after it is read.
- A stream that ends normally returns how many batches, sightings and cameras were stored.
"""

from __future__ import annotations

from collections.abc import Iterable

from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore, UnknownCamera
from alprfed.errors import BatchRejected, InvalidRequest
from alprfed.models import Camera, Sighting
from alprfed.v1 import node_pb2
from alprfed.wire import camera_from_pb, sighting_from_pb

MAX_BATCH_SIGHTINGS = 5000  # sightings per IngestBatch; bounds one transaction's size
MAX_BATCH_CAMERAS = 1000  # cameras per IngestBatch


def ingest_stream(
    store: NodeStore, batches: Iterable[node_pb2.IngestBatch], *, bounds: ObservationBounds
) -> node_pb2.IngestSummary:
    """Store every batch of the stream, each one whole or not at all (see module docstring).

    Raises:
        BatchRejected: a batch was oversized or held a bad record; earlier batches are stored.
    """
    stored_batches = stored_sightings = stored_cameras = 0
    for batch in batches:
        cameras, sightings = _validated(batch, stored_batches, bounds)
        _refuse_barred_sites(store, batch.sequence, cameras, sightings, stored_batches, bounds)
        try:
            store.add_batch(cameras, sightings)
        except UnknownCamera as exc:
            raise BatchRejected(
                str(exc),
                sequence=batch.sequence,
                position=exc.position,
                stored_batches=stored_batches,
            ) from None
        stored_batches += 1
        stored_sightings += len(sightings)
        stored_cameras += len(cameras)
    return node_pb2.IngestSummary(
        batches=stored_batches, sightings=stored_sightings, cameras=stored_cameras
    )


def _validated(
    batch: node_pb2.IngestBatch, stored_batches: int, bounds: ObservationBounds
) -> tuple[list[Camera], list[Sighting]]:
    """The batch as domain objects. Raises: BatchRejected naming the first bad record."""
    sequence = batch.sequence
    for kind, count, limit in (
        ("sightings", len(batch.sightings), MAX_BATCH_SIGHTINGS),
        ("cameras", len(batch.cameras), MAX_BATCH_CAMERAS),
    ):
        if count > limit:
            raise BatchRejected(
                f"{count} {kind} exceed the limit of {limit} per batch; split it",
                sequence=sequence,
                stored_batches=stored_batches,
            )
    cameras: list[Camera] = []
    for index, camera_pb in enumerate(batch.cameras):
        try:
            cameras.append(camera_from_pb(camera_pb))
        except InvalidRequest as exc:
            raise BatchRejected(
                f"camera {index}: {exc}", sequence=sequence, stored_batches=stored_batches
            ) from None
    sightings: list[Sighting] = []
    for position, sighting_pb in enumerate(batch.sightings):
        try:
            sighting = sighting_from_pb(sighting_pb)
        except InvalidRequest as exc:
            raise BatchRejected(
                str(exc), sequence=sequence, position=position, stored_batches=stored_batches
            ) from None
        if (problem := bounds.problem(sighting)) is not None:
            raise BatchRejected(
                problem, sequence=sequence, position=position, stored_batches=stored_batches
            )
        sightings.append(sighting)
    return cameras, sightings


def _refuse_barred_sites(
    store: NodeStore,
    sequence: int,
    cameras: list[Camera],
    sightings: list[Sighting],
    stored_batches: int,
    bounds: ObservationBounds,
) -> None:
    """Raises: BatchRejected when a sighting's camera is at a site the law bars collecting at.

    The batch's own cameras count as they will be stored (a batch may register a camera at a
    clinic together with its reads).
    """
    if not bounds.barred_sites:
        return
    in_batch = {camera.camera_id: camera for camera in cameras}
    registered = store.registered_cameras({s.camera_id for s in sightings} - set(in_batch))
    for position, sighting in enumerate(sightings):
        camera = in_batch.get(sighting.camera_id) or registered.get(sighting.camera_id)
        if camera is not None and (problem := bounds.camera_problem(camera)) is not None:
            raise BatchRejected(
                problem, sequence=sequence, position=position, stored_batches=stored_batches
            )
