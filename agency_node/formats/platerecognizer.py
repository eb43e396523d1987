"""Plate Recognizer Stream: its webhook JSON, its JSON Lines file and its CSV file.

Source: Plate Recognizer's "Webhooks and Outputs" guide for Stream
(https://guides.platerecognizer.com/docs/stream/results) and its sample webhook payload; the
mapping is tabulated in docs/INGEST.md. One detection event (``data``) carries a list of
``results``, one per plate seen in the frame; each result becomes one read:

    ours                 Stream
    camera_id            data.camera_id (CSV: --camera, the file is one camera's)
    observed_at          data.timestamp (ISO 8601, UTC)
    plate                results[i].plate
    plate_state          results[i].region.code (us-ca -> CA)
    confidence           results[i].score (0..1)
    vehicle make/model   results[i].model_make[0].make / .model (when MMC is on)
    vehicle_color        results[i].color[0].color
    position             the registered camera's (Stream sends none)

The webhook body is ``{"hook": {...}, "data": {...}}``; a JSON Lines file holds one ``data``
object per line (a full webhook body per line is accepted too). The CSV file
(``csv_file = ...`` in Stream's config.ini) has one row per plate; its nested columns
(``region``, ``model_make``, ``color``) are written as Python literals, which are read with
``ast.literal_eval`` -- literals only, never code.
"""

from __future__ import annotations

import ast
from typing import Any

from agency_node.formats import fields as f
from agency_node.formats.reads import ReadDraft
from agency_node.formats.values import parse_confidence, parse_observed_at
from alprfed.errors import InvalidRequest

CSV_REQUIRED = ("timestamp", "plate", "score", "region")
CSV_OPTIONAL = (
    "camera_id", "dscore", "file", "box", "model_make", "color", "vehicle", "orientation",
    "candidates", "source_url", "position_sec", "direction", "timestamp_local",
)  # fmt: skip


def webhook_reads(payload: Any) -> list[ReadDraft]:
    """The reads of one webhook body. Raises: InvalidRequest naming the field at fault."""
    body = f.obj(payload, "body")
    hook = body.get("hook")
    if hook is not None and f.obj(hook, "hook").get("event") not in (None, "recognition"):
        # Stream also posts heartbeats and video-clip events to the same target.
        raise InvalidRequest("only recognition events carry reads", field="hook.event")
    return event_reads(f.member(body, "", "data"), "data")


def jsonl_reads(line: Any) -> list[ReadDraft]:
    """One JSON Lines record: a ``data`` object, or a whole webhook body."""
    record = f.obj(line, "line")
    return webhook_reads(record) if "data" in record else event_reads(record, "")


def event_reads(event: Any, path: str) -> list[ReadDraft]:
    data = f.obj(event, path or "line")
    camera_id = f.identifier(data, path, "camera_id")
    observed_at = parse_observed_at(
        f.text(data, path, "timestamp"), field=f.join(path, "timestamp")
    )
    results = f.array(data, path, "results")
    reads = []
    for index, result in enumerate(results):
        where = f.join(path, f"results[{index}]")
        result = f.obj(result, where)
        score = f.confidence(result, where, "score")
        reads.append(
            _result_read(
                result,
                where,
                camera_id,
                observed_at,
                score,
                f.join(path, "camera_id"),
                f.join(path, "timestamp"),
            )
        )
    return reads


def _result_read(
    result: f.JsonObject,
    where: str,
    camera_id: str,
    observed_at: int,
    confidence: int,
    camera_path: str = "camera_id",
    time_path: str = "timestamp",
) -> ReadDraft:
    region_path = f.join(where, "region")
    region = f.obj(f.member(result, where, "region"), region_path)
    return ReadDraft(
        plate=f.text(result, where, "plate"),
        plate_state=f.us_region(f.text(region, region_path, "code"), field=region_path),
        observed_at=observed_at,
        camera_id=camera_id,
        confidence_per_mille=confidence,
        vehicle_make=f.first_choice(result, where, "model_make", "make"),
        vehicle_model=f.first_choice(result, where, "model_make", "model"),
        vehicle_color=f.first_choice(result, where, "color", "color"),
        origin={
            "plate": f.join(where, "plate"),
            "observed_at": time_path,
            "camera_id": camera_path,
            "vehicle_make": f.join(where, "model_make[0].make"),
            "vehicle_model": f.join(where, "model_make[0].model"),
            "vehicle_color": f.join(where, "color[0].color"),
        },
    )


def csv_read(row: dict[str, str], camera_id: str | None) -> ReadDraft:
    """One CSV row. ``camera_id`` comes from ``--camera`` when the file has no such column.

    Raises:
        InvalidRequest: naming the column at fault.
    """
    camera = row.get("camera_id", "").strip() or camera_id
    if not camera:
        raise InvalidRequest(
            "the row names no camera: give --camera (a Stream CSV file is one camera's)",
            field="camera_id",
        )
    result = {
        "plate": row["plate"],
        "region": _literal(row, "region"),
        "model_make": _literal(row, "model_make"),
        "color": _literal(row, "color"),
    }
    observed_at = parse_observed_at(row["timestamp"].strip(), field="timestamp")
    score = parse_confidence(row["score"].strip(), field="score")
    return _result_read(result, "", camera, observed_at, score)


def _literal(row: dict[str, str], column: str) -> Any:
    raw = row.get(column, "").strip()
    if not raw:
        return None
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        raise InvalidRequest(f"{raw[:40]!r} is not a Stream value", field=column) from None
