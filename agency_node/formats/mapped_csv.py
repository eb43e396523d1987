"""Any other vendor's CSV export, read through a mapping file (TOML) that names its columns.

The mapping file (reference and examples in docs/INGEST.md):

    [columns]                         # our field = the export's header text
    plate = "Plate Number"            # required
    plate_state = "State"             # required (us-ca, CA and ca are all accepted)
    observed_at = "Read Time"         # required
    camera_id = "Camera"              # required
    confidence = "Confidence"         # optional; without it reads get [values] confidence
    latitude = "Lat"                  # optional, with longitude; else the camera's position
    longitude = "Lon"
    vehicle_make = "Make"             # optional, as are vehicle_model, vehicle_color, image_uri

    [values]
    time_format = "%m/%d/%Y %H:%M:%S" # "iso" (default), "unix", "unix_ms", or a strptime pattern
    time_zone = "America/Los_Angeles" # IANA zone for times written without an offset
    confidence_scale = 100            # 1 (a fraction, default) or 100 (a percentage)
    confidence = 0.9                  # used when no confidence column is mapped
    delimiter = ","                   # one character

Unknown keys are refused (a misspelt key would otherwise silently drop a field), as are
columns the mapping names but the file's header lacks. Columns the mapping does not name are
ignored: vendor exports carry many we do not store.
"""

from __future__ import annotations

import datetime as dt
import tomllib
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from agency_node.formats.fields import us_region
from agency_node.formats.reads import ReadDraft
from agency_node.formats.values import (
    checked_unix_seconds,
    instant_seconds,
    parse_confidence,
    parse_microdegrees,
    parse_observed_at,
)
from alprfed.errors import ConfigError, InvalidRequest
from alprfed.models import Position

REQUIRED_FIELDS = ("plate", "plate_state", "observed_at", "camera_id")
OPTIONAL_FIELDS = (
    "confidence", "latitude", "longitude", "vehicle_make", "vehicle_model", "vehicle_color",
    "image_uri",
)  # fmt: skip
VALUE_KEYS = ("time_format", "time_zone", "confidence_scale", "confidence", "delimiter")
CONFIDENCE_SCALES = (1, 100)


@dataclass(frozen=True)
class CsvMapping:
    """A loaded mapping file: our field -> the export's column, and how to read values."""

    columns: Mapping[str, str]
    time_format: str = "iso"
    time_zone: zoneinfo.ZoneInfo | None = None
    confidence_scale: int = 1
    default_confidence: int | None = None  # per mille
    delimiter: str = ","

    @property
    def required_headers(self) -> tuple[str, ...]:
        return tuple(self.columns.values())

    def read(self, row: Mapping[str, str]) -> ReadDraft:
        """One export row (header -> text) as a read. Raises: InvalidRequest naming the column."""

        def cell(name: str) -> str:
            column = self.columns.get(name)
            return row[column].strip() if column is not None else ""

        return ReadDraft(
            plate=cell("plate"),
            plate_state=us_region(cell("plate_state"), field=self.columns["plate_state"]),
            observed_at=self._instant(cell("observed_at")),
            camera_id=cell("camera_id"),
            confidence_per_mille=self._confidence(cell("confidence")),
            position=self._position(cell("latitude"), cell("longitude")),
            vehicle_make=cell("vehicle_make"),
            vehicle_model=cell("vehicle_model"),
            vehicle_color=cell("vehicle_color"),
            image_uri=cell("image_uri"),
            origin=self.columns,
        )

    def _instant(self, raw: str) -> int:
        field = self.columns["observed_at"]
        if self.time_format == "iso" and self.time_zone is None:
            return parse_observed_at(raw, field=field)
        if self.time_format in ("unix", "unix_ms"):
            if not (raw.isascii() and raw.isdigit() and len(raw) <= 20):
                raise InvalidRequest(f"{raw!r} is not whole Unix time", field=field)
            divisor = 1000 if self.time_format == "unix_ms" else 1
            return checked_unix_seconds(int(raw) // divisor, field)
        try:
            if self.time_format == "iso":
                parsed = dt.datetime.fromisoformat(raw)
            else:
                parsed = dt.datetime.strptime(raw, self.time_format)
        except ValueError:
            raise InvalidRequest(
                f"{raw!r} does not match the time format {self.time_format!r}", field=field
            ) from None
        if parsed.tzinfo is None:
            if self.time_zone is None:
                raise InvalidRequest(
                    f"{raw!r} has no UTC offset and the mapping sets no time_zone", field=field
                )
            parsed = parsed.replace(tzinfo=self.time_zone)
        return instant_seconds(parsed, field=field)

    def _confidence(self, raw: str) -> int:
        if "confidence" not in self.columns:
            if self.default_confidence is None:  # load_mapping guarantees one or the other
                raise AssertionError("a mapping without a confidence column sets a default")
            return self.default_confidence
        return parse_confidence(raw, field=self.columns["confidence"], scale=self.confidence_scale)

    def _position(self, lat: str, lon: str) -> Position | None:
        if not lat and not lon:
            return None
        return Position(
            parse_microdegrees(lat, field=self.columns.get("latitude", "latitude")),
            parse_microdegrees(lon, field=self.columns.get("longitude", "longitude")),
        )


def load_mapping(path: Path) -> CsvMapping:
    """Read and check a mapping file.

    Raises:
        ConfigError: unreadable, not TOML, or a key or value that is wrong (named).
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"mapping file {path}: cannot read it: {exc.strerror}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"mapping file {path}: not TOML: {exc}") from None
    return parse_mapping(document, name=str(path))


def parse_mapping(document: Mapping[str, Any], *, name: str) -> CsvMapping:
    """Raises: ConfigError naming the key at fault."""

    def bad(key: str, why: str) -> ConfigError:
        return ConfigError(f"mapping file {name}: {key}: {why}")

    if unknown := set(document) - {"columns", "values"}:
        raise bad(sorted(unknown)[0], "unknown table (known: columns, values)")
    columns = document.get("columns")
    if not isinstance(columns, dict):
        raise bad("columns", "the [columns] table is required")
    for key, header in columns.items():
        if key not in REQUIRED_FIELDS + OPTIONAL_FIELDS:
            known = ", ".join(REQUIRED_FIELDS + OPTIONAL_FIELDS)
            raise bad(f"columns.{key}", f"unknown field (known: {known})")
        if not isinstance(header, str) or not header.strip():
            raise bad(f"columns.{key}", "must be the export's column header text")
    if missing := [key for key in REQUIRED_FIELDS if key not in columns]:
        raise bad(f"columns.{missing[0]}", "is required")
    if ("latitude" in columns) != ("longitude" in columns):
        raise bad("columns.latitude", "latitude and longitude are mapped together or not at all")
    values = document.get("values", {})
    if not isinstance(values, dict):
        raise bad("values", "must be a table")
    if unknown := set(values) - set(VALUE_KEYS):
        raise bad(f"values.{sorted(unknown)[0]}", f"unknown key (known: {', '.join(VALUE_KEYS)})")
    time_format = values.get("time_format", "iso")
    if not isinstance(time_format, str) or not time_format:
        raise bad("values.time_format", 'must be "iso", "unix", "unix_ms" or a strptime pattern')
    zone = None
    if "time_zone" in values:
        try:
            zone = zoneinfo.ZoneInfo(str(values["time_zone"]))
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise bad("values.time_zone", f"{values['time_zone']!r} is not an IANA zone") from None
    scale = values.get("confidence_scale", 1)
    if scale not in CONFIDENCE_SCALES or isinstance(scale, bool):
        raise bad("values.confidence_scale", "must be 1 (fractions) or 100 (percentages)")
    default = None
    if "confidence" in values:
        try:
            default = parse_confidence(str(Decimal(str(values["confidence"]))), scale=scale)
        except (InvalidRequest, ArithmeticError):
            raise bad("values.confidence", f"must be a number from 0 to {scale}") from None
    elif "confidence" not in columns:
        raise bad("columns.confidence", "map a confidence column or set values.confidence")
    delimiter = values.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise bad("values.delimiter", "must be one character")
    return CsvMapping(
        columns={key: header.strip() for key, header in columns.items()},
        time_format=time_format,
        time_zone=zone,
        confidence_scale=scale,
        default_confidence=default,
        delimiter=delimiter,
    )
