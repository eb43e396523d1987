"""Rekor Scout / OpenALPR agent: the ``alpr_group`` JSON it posts for each vehicle.

Source: Rekor Scout "JSON Group Results"
(https://docs.rekor.ai/scout/application-integration/json-group-results), and "Integrating
with the Agent" for ``camera_id`` (the numeric id in the camera's stream.d .conf file). A
group is the agent's best estimate over every frame the vehicle was in, so one group is one
read (the per-frame ``alpr_results`` values are not reads and are refused):

    ours                 alpr_group
    camera_id            camera_id (a number; stored as its decimal text)
    observed_at          epoch_start (Unix milliseconds; the vehicle was first seen)
    plate                best_plate_number
    plate_state          best_region (us-mo -> MO)
    confidence           best_confidence (a percentage, 0..100)
    position             gps_latitude / gps_longitude when the agent has a fix, else the
                         registered camera's
    vehicle_make         vehicle.make[0].name
    vehicle_model        vehicle.make_model[0].name without its make prefix (toyota_camry)
    vehicle_color        vehicle.color[0].name
"""

from __future__ import annotations

from typing import Any

from agency_node.formats import fields as f
from agency_node.formats.reads import ReadDraft
from agency_node.formats.values import checked_unix_seconds
from alprfed.errors import InvalidRequest

MS_PER_SECOND = 1000


ORIGIN = {
    "plate": "best_plate_number",
    "observed_at": "epoch_start",
    "camera_id": "camera_id",
    "vehicle_make": "vehicle.make[0].name",
    "vehicle_model": "vehicle.make_model[0].name",
    "vehicle_color": "vehicle.color[0].name",
}


def group_reads(payload: Any) -> list[ReadDraft]:
    """The read of one ``alpr_group`` body. Raises: InvalidRequest naming the field."""
    group = f.obj(payload, "body")
    kind = f.text(group, "", "data_type")
    if kind != "alpr_group":
        raise InvalidRequest(
            f"{kind!r} is not alpr_group (send the agent's group results, not per-frame "
            "alpr_results or heartbeats)",
            field="data_type",
        )
    epoch_ms = f.whole_number(group, "", "epoch_start")
    vehicle = f.obj(group.get("vehicle") or {}, "vehicle")
    make = f.first_choice(vehicle, "vehicle", "make", "name")
    model = f.first_choice(vehicle, "vehicle", "make_model", "name")
    if make and model.lower().startswith(make.lower() + "_"):
        model = model[len(make) + 1 :]
    return [
        ReadDraft(
            plate=f.text(group, "", "best_plate_number"),
            plate_state=f.us_region(f.text(group, "", "best_region"), field="best_region"),
            observed_at=checked_unix_seconds(epoch_ms // MS_PER_SECOND, "epoch_start"),
            camera_id=f.identifier(group, "", "camera_id"),
            confidence_per_mille=f.confidence(group, "", "best_confidence", scale=100),
            position=f.position(group, "", "gps_latitude", "gps_longitude"),
            vehicle_make=make.replace("_", " "),
            vehicle_model=model.replace("_", " "),
            vehicle_color=f.first_choice(vehicle, "vehicle", "color", "name"),
            origin=ORIGIN,
        )
    ]
