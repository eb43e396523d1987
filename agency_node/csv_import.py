"""CSV import of sightings (and cameras) exported by a vendor system: ``alprfed node import``.

Sightings file: UTF-8 CSV with a header row naming the columns, in any order.

    column          required  meaning
    plate           yes       the plate as read; spaces and dashes are dropped (7ABC-123 -> 7ABC123)
    plate_state     yes       two-letter USPS code of the issuing state (CA, IL, ...)
    observed_at     yes       ISO 8601 with a UTC offset or Z (2025-06-01T08:15:00-07:00,
                              2025-06-01T15:15:00Z) or whole Unix seconds (1748790900);
                              fractions of a second are dropped
    camera_id       yes       a camera registered on the node or listed in the cameras file
    latitude        yes       WGS 84 decimal degrees (37.338208)
    longitude       yes       WGS 84 decimal degrees (-121.886329)
    confidence      yes       read confidence as a decimal fraction from 0 to 1 (0.93)
    vehicle_make    no        e.g. Toyota
    vehicle_model   no        e.g. Camry
    vehicle_color   no        e.g. silver (stored in lower case)
    image_uri       no        an absolute URI of the image; images are referenced, never stored

Cameras file (``--cameras``): camera_id, name, latitude, longitude, and optionally
sensitive_site: empty, or one of the categories of ``alprfed.models.SensitiveSite``
(health_care, reproductive_health_care, place_of_worship, school, immigration_services,
shelter, legal_services, courthouse, political_assembly).

Vendor formats (Plate Recognizer, Rekor, Verkada, mapped CSV) live in agency_node.formats,
which also holds the value parsers and the bad-record contract this module shares with them.

Numbers are parsed as exact decimals, never floats: degrees are rounded half-to-even to the
microdegree (about 11 cm), confidences to the per mille. Unknown columns are refused, so a
misspelt header cannot silently drop a column.

The bad-record contract: both files are validated completely before anything is stored. If any
record is bad, nothing is imported and ``CsvRejected`` lists the first MAX_REPORTED_PROBLEMS bad
records by file and line with the reason, and how many more there are. Reads from the future,
older than retention allows, or from a camera at a sensitive site the node's law bars
collecting at (ObservationBounds) are bad records. A read already stored (camera, time and
plate) is skipped, not stored twice. Otherwise the cameras and
all sightings are stored in one transaction, in chunks, so an import is all or nothing even if
the database fails half way.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from agency_node.formats.problems import MAX_REPORTED_PROBLEMS, Problem
from agency_node.formats.problems import Findings as _Findings
from agency_node.formats.problems import ImportRejected as CsvRejected
from agency_node.formats.values import (
    MAX_UNIX_SECONDS,
    parse_confidence,
    parse_microdegrees,
    parse_observed_at,
)
from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from agency_node.storage.store import ProgressCallback
from alprfed.errors import InvalidRequest
from alprfed.models import Camera, Position, Sighting, parse_sensitive_site

T = TypeVar("T")

__all__ = [
    "MAX_REPORTED_PROBLEMS",
    "MAX_UNIX_SECONDS",
    "CheckedImport",
    "CsvRejected",
    "Problem",
    "check_import",
    "parse_camera_row",
    "parse_confidence",
    "parse_microdegrees",
    "parse_observed_at",
    "parse_sighting_row",
    "read_cameras_file",
    "run_import",
]

SIGHTING_REQUIRED = (
    "plate", "plate_state", "observed_at", "camera_id", "latitude", "longitude", "confidence",
)  # fmt: skip
SIGHTING_OPTIONAL = ("vehicle_make", "vehicle_model", "vehicle_color", "image_uri")
CAMERA_REQUIRED = ("camera_id", "name", "latitude", "longitude")
CAMERA_OPTIONAL = ("sensitive_site",)


@dataclass(frozen=True)
class CheckedImport:
    """Files that passed validation, ready to store."""

    sightings_csv: Path
    cameras: list[Camera]
    sightings: int


# --- records ------------------------------------------------------------------------------------


def parse_sighting_row(row: dict[str, str]) -> Sighting:
    """One sightings-file record (column name -> text) as a validated sighting.

    Raises:
        InvalidRequest: naming the field at fault.
    """
    return Sighting.create(
        plate=row["plate"],
        plate_state=row["plate_state"],
        observed_at=parse_observed_at(row["observed_at"].strip()),
        camera_id=row["camera_id"].strip(),
        position=_position(row),
        confidence_per_mille=parse_confidence(row["confidence"].strip()),
        vehicle_make=row.get("vehicle_make", ""),
        vehicle_model=row.get("vehicle_model", ""),
        vehicle_color=row.get("vehicle_color", ""),
        image_uri=row.get("image_uri", "").strip(),
    )


def parse_camera_row(row: dict[str, str]) -> Camera:
    """One cameras-file record as a validated camera. Raises: InvalidRequest."""
    return Camera(
        camera_id=row["camera_id"].strip(),
        name=row["name"].strip(),
        position=_position(row),
        sensitive_site=parse_sensitive_site(row.get("sensitive_site", "").strip()),
    )


def _position(row: dict[str, str]) -> Position:
    return Position(
        parse_microdegrees(row["latitude"].strip(), field="latitude"),
        parse_microdegrees(row["longitude"].strip(), field="longitude"),
    )


# --- files --------------------------------------------------------------------------------------


def check_import(
    store: NodeStore,
    sightings_csv: Path,
    cameras_csv: Path | None = None,
    *,
    bounds: ObservationBounds,
) -> CheckedImport:
    """Validate both files completely; store nothing.

    Raises:
        CsvRejected: any bad record, header or file (the first ones listed, all counted).
    """
    findings = _Findings()
    cameras = _cameras_file(cameras_csv, findings) if cameras_csv is not None else {}
    # Cameras the sightings use that the cameras file does not define: camera -> (line, uses).
    elsewhere: dict[str, tuple[int, int]] = {}
    count = 0
    sighting_records = _records(
        sightings_csv, SIGHTING_REQUIRED, SIGHTING_OPTIONAL, parse_sighting_row, findings
    )
    for line, sighting in sighting_records:
        count += 1
        if (problem := bounds.problem(sighting)) is not None:
            findings.add(Problem(sightings_csv.name, line, problem))
        if (listed := cameras.get(sighting.camera_id)) is not None:
            if (problem := bounds.camera_problem(listed)) is not None:
                findings.add(Problem(sightings_csv.name, line, problem))
        else:
            first, uses = elsewhere.get(sighting.camera_id, (line, 0))
            elsewhere[sighting.camera_id] = (first, uses + 1)
    registered = store.registered_cameras(elsewhere)
    for camera_id, camera in registered.items():
        if (problem := bounds.camera_problem(camera)) is not None:
            first, uses = elsewhere[camera_id]
            findings.add(Problem(sightings_csv.name, first, _naming(problem, uses)), count=uses)
    unknown = set(elsewhere) - set(registered)
    for camera_id in sorted(unknown, key=lambda c: elsewhere[c][0]):
        first, uses = elsewhere[camera_id]
        message = f"camera {camera_id!r} is neither registered on this node nor in the cameras file"
        findings.add(Problem(sightings_csv.name, first, _naming(message, uses)), count=uses)
    findings.raise_if_any()
    return CheckedImport(sightings_csv, list(cameras.values()), count)


def read_cameras_file(cameras_csv: Path) -> list[Camera]:
    """Validate a cameras file (the vendor imports register cameras with it).

    Raises:
        CsvRejected: any bad record or a camera listed twice.
    """
    findings = _Findings()
    cameras = _cameras_file(cameras_csv, findings)
    findings.raise_if_any()
    return list(cameras.values())


def _cameras_file(cameras_csv: Path, findings: _Findings) -> dict[str, Camera]:
    cameras: dict[str, Camera] = {}
    records = _records(cameras_csv, CAMERA_REQUIRED, CAMERA_OPTIONAL, parse_camera_row, findings)
    for line, camera in records:
        if camera.camera_id in cameras:
            twice = f"camera {camera.camera_id!r} is listed twice"
            findings.add(Problem(cameras_csv.name, line, twice))
        cameras[camera.camera_id] = camera
    return cameras


def _naming(message: str, uses: int) -> str:
    return message + (f" (and {uses - 1} more record(s) naming it)" if uses > 1 else "")


def run_import(
    store: NodeStore, checked: CheckedImport, *, on_progress: ProgressCallback | None = None
) -> int:
    """Store checked files in one transaction; return the number of sightings stored.

    Raises:
        CsvRejected: the file changed since it was checked and now holds a bad record; nothing
            was stored.
    """
    records = _records(
        checked.sightings_csv,
        SIGHTING_REQUIRED,
        SIGHTING_OPTIONAL,
        parse_sighting_row,
        _Findings(),
        stop_at_first=True,
    )
    # A bad record raises inside bulk_load's transaction, which then stores nothing.
    return store.bulk_load(
        checked.cameras, (sighting for _, sighting in records), on_progress=on_progress
    )


def _records(
    path: Path,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    parse: Callable[[dict[str, str]], T],
    findings: _Findings,
    *,
    stop_at_first: bool = False,
) -> Iterator[tuple[int, T]]:
    """Parsed records with their starting line; bad ones go to ``findings`` instead.

    With ``stop_at_first`` the first bad record raises CsvRejected at once. A file that cannot
    be read as CSV at all (missing, not UTF-8, malformed quoting) ends the reading with a problem.
    """
    name = path.name
    read_to = 0  # the last line read so far
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, strict=True)
            columns = _check_header(next(reader, None), required, optional, name, findings)
            read_to = reader.line_num
            if columns is None:
                return
            for fields in reader:
                line, read_to = read_to + 1, reader.line_num
                if not any(text.strip() for text in fields):
                    continue  # blank lines carry no record
                try:
                    if len(fields) != len(columns):
                        raise InvalidRequest(
                            f"{len(fields)} fields where the header names {len(columns)}"
                        )
                    yield line, parse(dict(zip(columns, fields, strict=True)))
                except InvalidRequest as exc:
                    findings.add(Problem(name, line, str(exc)))
                    if stop_at_first:
                        findings.raise_if_any()
    except OSError as exc:
        findings.add(Problem(name, 0, f"cannot read the file: {exc.strerror}"))
    except UnicodeDecodeError:
        findings.add(Problem(name, read_to + 1, "the file is not UTF-8 text"))
    except csv.Error as exc:
        findings.add(Problem(name, read_to + 1, f"not valid CSV: {exc}"))
    if stop_at_first:
        findings.raise_if_any()


def _check_header(
    header: list[str] | None,
    required: tuple[str, ...],
    optional: tuple[str, ...],
    name: str,
    findings: _Findings,
) -> list[str] | None:
    columns = [column.strip() for column in header or []]
    problems = []
    if missing := [column for column in required if column not in columns]:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown := [column for column in columns if column not in required + optional]:
        known = ", ".join(required + optional)
        problems.append(f"unknown column(s): {', '.join(unknown)} (known: {known})")
    if len(set(columns)) != len(columns):
        problems.append("a column is named twice")
    if problems:
        findings.add(Problem(name, 1, "; ".join(problems)))
        return None
    return columns
