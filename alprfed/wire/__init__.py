"""The only code that touches generated protobuf types: protobuf <-> domain models, validating.

Servicers receive domain models from here and hand domain models back; a malformed field
becomes an InvalidRequest naming it, which the RPC layer maps to INVALID_ARGUMENT.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from alprfed.errors import InvalidRequest, Reason
from alprfed.models import Camera, Position, Sighting, SightingRow, parse_sensitive_site
from alprfed.signing import Envelope
from alprfed.v1 import common_pb2

MAX_ENVELOPE_PAYLOAD = 64 * 1024


def position_from_pb(pb: common_pb2.Position) -> Position:
    return Position(pb.latitude_e6, pb.longitude_e6)


def position_to_pb(position: Position) -> common_pb2.Position:
    return common_pb2.Position(latitude_e6=position.latitude_e6, longitude_e6=position.longitude_e6)


def camera_from_pb(pb: common_pb2.Camera) -> Camera:
    if not pb.HasField("position"):
        raise InvalidRequest("camera needs a position", field="position")
    return Camera(
        camera_id=pb.camera_id,
        name=pb.name,
        position=position_from_pb(pb.position),
        sensitive_site=parse_sensitive_site(pb.sensitive_site),
    )


def camera_to_pb(camera: Camera) -> common_pb2.Camera:
    return common_pb2.Camera(
        camera_id=camera.camera_id,
        name=camera.name,
        position=position_to_pb(camera.position),
        sensitive_site=camera.sensitive_site.value if camera.sensitive_site else "",
    )


def _sighting_fields(pb: common_pb2.Sighting) -> dict[str, Any]:
    """The fields a sighting carries in both directions; position is required."""
    if not pb.HasField("position"):
        raise InvalidRequest("sighting needs a position", field="position")
    return {
        "plate": pb.plate,
        "plate_state": pb.plate_state,
        "observed_at": pb.observed_at,
        "camera_id": pb.camera_id,
        "position": position_from_pb(pb.position),
        "confidence_per_mille": pb.confidence_per_mille,
        "vehicle_make": pb.vehicle_make,
        "vehicle_model": pb.vehicle_model,
        "vehicle_color": pb.vehicle_color,
        "image_uri": pb.image_uri,
    }


def sighting_from_pb(pb: common_pb2.Sighting) -> Sighting:
    """Validate an ingested sighting (its id and sensitive_site are output-only and ignored)."""
    return Sighting.create(**_sighting_fields(pb))


def result_from_pb(pb: common_pb2.Sighting) -> Sighting:
    """A sighting as a node returned it, kept exactly (no normalization) so digests match."""
    return Sighting(
        **_sighting_fields(pb), id=pb.id, sensitive_site=parse_sensitive_site(pb.sensitive_site)
    )


def sighting_to_pb(sighting: Sighting) -> common_pb2.Sighting:
    return common_pb2.Sighting(
        id=sighting.id,
        plate=sighting.plate,
        plate_state=sighting.plate_state,
        observed_at=sighting.observed_at,
        camera_id=sighting.camera_id,
        position=position_to_pb(sighting.position),
        vehicle_make=sighting.vehicle_make,
        vehicle_model=sighting.vehicle_model,
        vehicle_color=sighting.vehicle_color,
        confidence_per_mille=sighting.confidence_per_mille,
        image_uri=sighting.image_uri,
        sensitive_site=sighting.sensitive_site.value if sighting.sensitive_site else "",
    )


def add_sighting_rows(target: Any, rows: Iterable[SightingRow]) -> None:
    """Append search rows (``alprfed.models.SIGHTING_ROW``) to a repeated ``Sighting`` field,
    each as ``sighting_to_pb`` would build it from ``Sighting.from_row(row)``.

    The node's answer: filling messages in place with ``add`` costs about half of building
    a ``Sighting``, then a message from it, then copying that into the response.
    """
    add = target.add
    for (
        id_,
        plate,
        state,
        observed_at,
        camera_id,
        lat,
        lon,
        make,
        model,
        color,
        conf,
        uri,
        site,
    ) in rows:
        pb = add(
            id=id_,
            plate=plate,
            plate_state=state,
            observed_at=observed_at,
            camera_id=camera_id,
            vehicle_make=make,
            vehicle_model=model,
            vehicle_color=color,
            confidence_per_mille=conf,
            image_uri=uri,
            sensitive_site=site or "",
        )
        position = pb.position
        position.latitude_e6 = lat
        position.longitude_e6 = lon


def envelope_from_pb(pb: common_pb2.SignedEnvelope, *, field: str) -> Envelope:
    if not pb.payload or not pb.signature:
        raise InvalidRequest("a signed envelope is required", field=field)
    if len(pb.payload) > MAX_ENVELOPE_PAYLOAD:
        raise InvalidRequest(f"signed payload exceeds {MAX_ENVELOPE_PAYLOAD} bytes", field=field)
    return Envelope(pb.payload_type, pb.payload, pb.key_id, pb.signature)


def envelope_to_pb(envelope: Envelope) -> common_pb2.SignedEnvelope:
    return common_pb2.SignedEnvelope(
        payload_type=envelope.payload_type,
        payload=envelope.payload,
        key_id=envelope.key_id,
        signature=envelope.signature,
    )


def reason_to_pb(reason: Reason) -> common_pb2.Reason:
    return common_pb2.Reason(
        gate=reason.gate,
        rule_id=reason.rule_id,
        state=reason.state,
        citation=reason.citation,
        message=reason.message,
        source=reason.source,
    )


def reason_from_pb(pb: common_pb2.Reason) -> Reason:
    return Reason(
        gate=pb.gate,
        rule_id=pb.rule_id,
        message=pb.message,
        state=pb.state,
        citation=pb.citation,
        source=pb.source,
    )


def reasons_to_pb(reasons: Iterable[Reason]) -> list[common_pb2.Reason]:
    return [reason_to_pb(r) for r in reasons]
