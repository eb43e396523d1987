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

Numbers are parsed as exact decimals, never floats: degrees are rounded half-to-even to the
microdegree (about 11 cm), confidences to the per mille. Unknown columns are refused, so a
misspelt header cannot silently drop a column.

The bad-record contract: both files are validated completely before anything is stored. If any
record is bad, nothing is imported and ``CsvRejected`` lists the first MAX_REPORTED_PROBLEMS bad
records by file and line with the reason, and how many more there are. Otherwise the cameras and
all sightings are stored in one transaction, in chunks, so an import is all or nothing even if
the database fails half way.
"""

from __future__ import annotations

import csv
import datetime as dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from pathlib import Path
from typing import TypeVar

from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from agency_node.storage.store import ProgressCallback
from alprfed.errors import InvalidRequest
from alprfed.models import Camera, Position, Sighting, parse_sensitive_site

T = TypeVar("T")

MAX_REPORTED_PROBLEMS = 20
SIGHTING_REQUIRED = (
    "plate", "plate_state", "observed_at", "camera_id", "latitude", "longitude", "confidence",
)  # fmt: skip
SIGHTING_OPTIONAL = ("vehicle_make", "vehicle_model", "vehicle_color", "image_uri")
CAMERA_REQUIRED = ("camera_id", "name", "latitude", "longitude")
CAMERA_OPTIONAL = ("sensitive_site",)

_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_MICRO = Decimal("0.000001")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant ISO 8601 can name
_SECOND = dt.timedelta(seconds=1)


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based line where the record starts; 1 is the header
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class CsvRejected(InvalidRequest):
    """Bad records were found; nothing was imported. ``problems`` holds the first ones."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        super().__init__(f"{total} bad record(s); nothing was imported")
        self.problems = problems
        self.total = total


@dataclass(frozen=True)
class CheckedImport:
    """Files that passed validation, ready to store."""

    sightings_csv: Path
    cameras: list[Camera]
    sightings: int


@dataclass
class _Findings:
    """Problems found so far: the first MAX_REPORTED_PROBLEMS kept, all counted."""

    shown: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem, count: int = 1) -> None:
        self.total += count
        if len(self.shown) < MAX_REPORTED_PROBLEMS:
            self.shown.append(problem)

    def raise_if_any(self) -> None:
        if self.total:
            shown = sorted(self.shown, key=lambda p: (p.file, p.line))[:MAX_REPORTED_PROBLEMS]
            raise CsvRejected(shown, self.total)


# --- values -------------------------------------------------------------------------------------


def parse_microdegrees(text: str, *, field: str) -> int:
    """Exact decimal degrees to integer microdegrees, rounded half to even.

    Raises:
        InvalidRequest: not a plain decimal number.
    """
    if not _DECIMAL.fullmatch(text):
        raise InvalidRequest(f"{text!r} is not a decimal number of degrees", field=field)
    try:
        return int((Decimal(text) / _MICRO).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    except InvalidOperation:  # more digits than the decimal context holds: no coordinate
        raise InvalidRequest(f"{text[:20]!r}... is not a number of degrees", field=field) from None


def parse_confidence(text: str) -> int:
    """A decimal fraction 0..1 to per mille, rounded half to even.

    Raises:
        InvalidRequest: not a decimal number from 0 to 1.
    """
    if not _DECIMAL.fullmatch(text) or not Decimal(0) <= Decimal(text) <= Decimal(1):
        raise InvalidRequest(f"{text!r} is not a decimal fraction from 0 to 1", field="confidence")
    return int((Decimal(text) * 1000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def parse_observed_at(text: str) -> int:
    """ISO 8601 with a UTC offset (or Z), or whole Unix seconds, to Unix seconds.

    Raises:
        InvalidRequest: neither form, or an ISO time without an offset (its zone is unknown).
    """
    if text.isascii() and text.isdigit():
        if len(text) > len(str(MAX_UNIX_SECONDS)) or int(text) > MAX_UNIX_SECONDS:
            raise InvalidRequest(f"{text} Unix seconds is after the year 9999", field="observed_at")
        return int(text)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is neither ISO 8601 (2025-06-01T15:15:00Z) nor Unix seconds",
            field="observed_at",
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(
            f"{text!r} has no UTC offset; add Z or +hh:mm so the instant is unambiguous",
            field="observed_at",
        )
    seconds = (parsed - _EPOCH) // _SECOND
    if seconds > MAX_UNIX_SECONDS:  # 9999-12-31 late in the day, west of UTC
        raise InvalidRequest(f"{text!r} is after the year 9999 in UTC", field="observed_at")
    return seconds


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
    cameras: dict[str, Camera] = {}
    if cameras_csv is not None:
        camera_records = _records(
            cameras_csv, CAMERA_REQUIRED, CAMERA_OPTIONAL, parse_camera_row, findings
        )
        for line, camera in camera_records:
            if camera.camera_id in cameras:
                twice = f"camera {camera.camera_id!r} is listed twice"
                findings.add(Problem(cameras_csv.name, line, twice))
            cameras[camera.camera_id] = camera
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
        if sighting.camera_id not in cameras:
            first, uses = elsewhere.get(sighting.camera_id, (line, 0))
            elsewhere[sighting.camera_id] = (first, uses + 1)
    unknown = set(elsewhere) - store.known_camera_ids(elsewhere)
    for camera_id in sorted(unknown, key=lambda c: elsewhere[c][0]):
        first, uses = elsewhere[camera_id]
        more = f" (and {uses - 1} more record(s) naming it)" if uses > 1 else ""
        message = (
            f"camera {camera_id!r} is neither registered on this node nor in the cameras file{more}"
        )
        findings.add(Problem(sightings_csv.name, first, message), count=uses)
    findings.raise_if_any()
    return CheckedImport(sightings_csv, list(cameras.values()), count)


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
