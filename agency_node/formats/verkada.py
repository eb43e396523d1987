"""Verkada LPR webhook JSON (``webhook_type`` ``lpr``).

Source: Verkada API reference, "LPR" webhook object (https://apidocs.verkada.com/v1/reference/lpr):

    ours                 Verkada
    camera_id            data.camera_id (a UUID)
    observed_at          data.created (Unix seconds, the detection time)
    plate                data.license_plate_number
    plate_state          data.license_plate_state (us-ca -> CA)
    confidence           data.confidence (0..1)
    image_uri            data.image_url (a reference; the image is never fetched or stored)
    position             the registered camera's (Verkada sends none)

``created_at`` is when the webhook was sent, not when the plate was seen, so it is not used.
"""

from __future__ import annotations

from typing import Any

from agency_node.formats import fields as f
from agency_node.formats.reads import ReadDraft
from agency_node.formats.values import checked_unix_seconds
from alprfed.errors import InvalidRequest

ORIGIN = {
    "plate": "data.license_plate_number",
    "observed_at": "data.created",
    "camera_id": "data.camera_id",
    "image_uri": "data.image_url",
}


def lpr_reads(payload: Any) -> list[ReadDraft]:
    """The read of one LPR webhook body. Raises: InvalidRequest naming the field."""
    body = f.obj(payload, "body")
    kind = f.text(body, "", "webhook_type")
    if kind != "lpr":
        raise InvalidRequest(f"{kind!r} is not an lpr webhook", field="webhook_type")
    data = f.obj(f.member(body, "", "data"), "data")
    return [
        ReadDraft(
            plate=f.text(data, "data", "license_plate_number"),
            plate_state=f.us_region(
                f.text(data, "data", "license_plate_state"), field="data.license_plate_state"
            ),
            observed_at=checked_unix_seconds(
                f.whole_number(data, "data", "created"), "data.created"
            ),
            camera_id=f.identifier(data, "data", "camera_id"),
            confidence_per_mille=f.confidence(data, "data", "confidence"),
            image_uri=f.text(data, "data", "image_url", required=False),
            origin=ORIGIN,
        )
    ]
