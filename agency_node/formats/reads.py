"""What every vendor format parses into, and how it becomes a stored sighting.

A vendor payload names a camera but often not where it stands (Plate Recognizer and Verkada
send no coordinates; a Rekor agent sends them only when it has a GPS fix). A ``ReadDraft`` is
therefore a read whose position may still be unknown; ``CameraDirectory.finish`` fills it from
the camera registered on the node and validates the whole read with ``Sighting.create`` -- the
same validation the alprfed CSV import and gRPC ingest apply, so every path stores the same
validated type.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from agency_node.storage import NodeStore
from alprfed.errors import InvalidRequest
from alprfed.models import Camera, Position, Sighting


@dataclass(frozen=True)
class ReadDraft:
    """One plate read as a vendor sent it, already converted to our units."""

    plate: str
    plate_state: str
    observed_at: int  # Unix seconds
    camera_id: str
    confidence_per_mille: int
    position: Position | None = None  # None: the registered camera's position
    vehicle_make: str = ""
    vehicle_model: str = ""
    vehicle_color: str = ""
    image_uri: str = ""
    # Our field -> the vendor's, so an error names the field as the vendor's payload spells it.
    origin: Mapping[str, str] = field(default_factory=dict, compare=False)


class CameraDirectory:
    """The cameras reads may name: those registered on the node, and those being registered
    with the import. Looks each id up once."""

    def __init__(self, store: NodeStore, cameras: Iterable[Camera] = ()) -> None:
        self._store = store
        self._known: dict[str, Camera | None] = {c.camera_id: c for c in cameras}

    def get(self, camera_id: str) -> Camera | None:
        if camera_id not in self._known:
            found = self._store.registered_cameras([camera_id])
            self._known[camera_id] = found.get(camera_id)
        return self._known[camera_id]

    def preload(self, camera_ids: Iterable[str]) -> None:
        """Look up many ids in one round trip (a file naming thousands of cameras)."""
        missing = {c for c in camera_ids if c not in self._known}
        found: Mapping[str, Camera] = self._store.registered_cameras(missing) if missing else {}
        for camera_id in missing:
            self._known[camera_id] = found.get(camera_id)

    def finish(self, draft: ReadDraft) -> Sighting:
        """The draft as a validated sighting, placed at its camera when it has no position.

        Raises:
            InvalidRequest: the camera is not registered on this node, or a field is invalid.
        """
        camera = self.get(draft.camera_id)
        if camera is None:
            raise InvalidRequest(
                f"camera {draft.camera_id!r} is not registered on this node; register it first "
                "(alprfed node import --cameras)",
                field=draft.origin.get("camera_id", "camera_id"),
            )
        try:
            return self._sighting(draft, camera)
        except InvalidRequest as exc:
            vendor_field = draft.origin.get(exc.field)
            if vendor_field is None:
                raise
            reason = str(exc).removeprefix(f"{exc.field}: ")
            raise InvalidRequest(reason, field=vendor_field) from None

    @staticmethod
    def _sighting(draft: ReadDraft, camera: Camera) -> Sighting:
        return Sighting.create(
            plate=draft.plate,
            plate_state=draft.plate_state,
            observed_at=draft.observed_at,
            camera_id=draft.camera_id,
            position=draft.position or camera.position,
            confidence_per_mille=draft.confidence_per_mille,
            vehicle_make=draft.vehicle_make,
            vehicle_model=draft.vehicle_model,
            vehicle_color=draft.vehicle_color,
            image_uri=draft.image_uri,
        )
