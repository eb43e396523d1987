"""Domain models shared by the node, the gateway and the ledger.

These are plain frozen dataclasses with validation at construction. Generated protobuf types
never reach this module: alprfed.wire converts at the edge. Every model that is signed or hashed
has ``to_canonical()`` returning the JSON-subset value that alprfed.canonical encodes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, NewType

from alprfed.errors import InvalidPlate, InvalidRequest, InvalidWindow

AgencyId = NewType("AgencyId", str)
UnixTime = int  # seconds since the epoch, UTC; the unit everywhere in alprfed

MAX_PLATE_LENGTH = 10  # the longest US plate serials are 8; leave room for specialty plates
_PLATE_DROPPED = re.compile(r"[ \-]+")  # only spaces and dashes; tabs etc. are refused
_PLATE_VALID = re.compile(rf"[A-Z0-9]{{1,{MAX_PLATE_LENGTH}}}")
_IDENTIFIER = re.compile(r"[a-z0-9][a-z0-9_.-]{0,63}")

US_STATES = frozenset(
    [
        "AL",
        "AK",
        "AZ",
        "AR",
        "CA",
        "CO",
        "CT",
        "DE",
        "DC",
        "FL",
        "GA",
        "HI",
        "ID",
        "IL",
        "IN",
        "IA",
        "KS",
        "KY",
        "LA",
        "ME",
        "MD",
        "MA",
        "MI",
        "MN",
        "MS",
        "MO",
        "MT",
        "NE",
        "NV",
        "NH",
        "NJ",
        "NM",
        "NY",
        "NC",
        "ND",
        "OH",
        "OK",
        "OR",
        "PA",
        "RI",
        "SC",
        "SD",
        "TN",
        "TX",
        "UT",
        "VT",
        "VA",
        "WA",
        "WV",
        "WI",
        "WY",
        "PR",
        "GU",
        "VI",
        "AS",
        "MP",
    ]
)


def normalize_plate(raw: str) -> str:
    """Return the plate as stored and searched: upper case, spaces and dashes dropped.

    Raises:
        InvalidPlate: anything but letters and digits remains, or the result is empty or longer
            than MAX_PLATE_LENGTH.
    """
    if not isinstance(raw, str):
        raise InvalidPlate("plate must be text", field="plate")
    plate = _PLATE_DROPPED.sub("", raw)
    # Check before upper-casing: "ß".upper() is "SS", and no plate holds a non-ASCII letter.
    if not plate.isascii() or not _PLATE_VALID.fullmatch(plate := plate.upper()):
        shown = raw if len(raw) <= 24 else raw[:24] + "..."
        raise InvalidPlate(
            f"{shown!r} is not a plate: after dropping spaces and dashes it must be 1 to "
            f"{MAX_PLATE_LENGTH} characters of A-Z and 0-9",
            field="plate",
        )
    return plate


def check_state(code: str, *, field_name: str = "state") -> str:
    """Return a two-letter USPS state or territory code, upper case.

    Raises:
        InvalidRequest: not a known code.
    """
    state = code.strip().upper() if isinstance(code, str) else ""
    if state not in US_STATES:
        raise InvalidRequest(f"{code!r} is not a US state or territory code", field=field_name)
    return state


def check_identifier(value: str, *, field_name: str) -> str:
    """Ids of agencies, officers, cameras, warrants: lower case, digits, ``_ . -``, <= 64 chars."""
    if not isinstance(value, str) or not _IDENTIFIER.fullmatch(value):
        raise InvalidRequest(
            f"{value!r} is not a valid id (lower-case letters, digits, '_', '.', '-'; "
            "1 to 64 characters, starting with a letter or digit)",
            field=field_name,
        )
    return value


class SensitiveSite(StrEnum):
    """Kinds of place near which sightings reveal protected activity."""

    HEALTH_CARE = "health_care"
    REPRODUCTIVE_HEALTH_CARE = "reproductive_health_care"
    PLACE_OF_WORSHIP = "place_of_worship"
    SCHOOL = "school"
    IMMIGRATION_SERVICES = "immigration_services"
    SHELTER = "shelter"
    LEGAL_SERVICES = "legal_services"
    COURTHOUSE = "courthouse"
    POLITICAL_ASSEMBLY = "political_assembly"


class Purpose(StrEnum):
    """Why an officer queries. A case number is always required beside it."""

    HOMICIDE = "homicide"
    VIOLENT_FELONY = "violent_felony"
    SEXUAL_ASSAULT = "sexual_assault"
    ROBBERY = "robbery"
    KIDNAPPING = "kidnapping"
    HUMAN_TRAFFICKING = "human_trafficking"
    STOLEN_VEHICLE = "stolen_vehicle"
    MISSING_OR_ENDANGERED_PERSON = "missing_or_endangered_person"
    AMBER_ALERT = "amber_alert"
    IMMINENT_THREAT = "imminent_threat"
    OUTSTANDING_WARRANT = "outstanding_warrant"
    HIT_AND_RUN = "hit_and_run"
    PROPERTY_FELONY = "property_felony"
    DRUG_TRAFFICKING = "drug_trafficking"
    TERRORISM = "terrorism"
    # Purposes several states forbid outright; listed so a query must say so, and be refused.
    IMMIGRATION_ENFORCEMENT = "immigration_enforcement"
    REPRODUCTIVE_HEALTH_CARE_INVESTIGATION = "reproductive_health_care_investigation"
    GENDER_AFFIRMING_CARE_INVESTIGATION = "gender_affirming_care_investigation"
    PROTECTED_ACTIVITY_MONITORING = "protected_activity_monitoring"


# An exigent (warrantless, supervisor co-approved) query may only serve these purposes.
EXIGENT_PURPOSES = frozenset(
    {Purpose.AMBER_ALERT, Purpose.MISSING_OR_ENDANGERED_PERSON, Purpose.IMMINENT_THREAT}
)


def parse_purpose(value: str) -> Purpose:
    """Raises: InvalidRequest naming the accepted purposes."""
    try:
        return Purpose(value)
    except ValueError:
        accepted = ", ".join(p.value for p in Purpose)
        raise InvalidRequest(
            f"{value!r} is not a purpose; use one of: {accepted}", field="purpose"
        ) from None


def parse_sensitive_site(value: str) -> SensitiveSite | None:
    """'' means no sensitive site. Raises: InvalidRequest for an unknown category."""
    if value == "":
        return None
    try:
        return SensitiveSite(value)
    except ValueError:
        accepted = ", ".join(s.value for s in SensitiveSite)
        raise InvalidRequest(
            f"{value!r} is not a sensitive-site category; use one of: {accepted}",
            field="sensitive_site",
        ) from None


class AgencyKind(StrEnum):
    LOCAL = "local"
    STATE = "state"
    FEDERAL = "federal"


@dataclass(frozen=True)
class Position:
    """A WGS 84 position in integer microdegrees (one exact encoding, no floats)."""

    latitude_e6: int
    longitude_e6: int

    def __post_init__(self) -> None:
        if not -90_000_000 <= self.latitude_e6 <= 90_000_000:
            raise InvalidRequest(
                f"latitude {self.latitude_e6} microdegrees is out of range", field="position"
            )
        if not -180_000_000 <= self.longitude_e6 <= 180_000_000:
            raise InvalidRequest(
                f"longitude {self.longitude_e6} microdegrees is out of range", field="position"
            )

    def to_canonical(self) -> list[int]:
        return [self.latitude_e6, self.longitude_e6]


@dataclass(frozen=True)
class Camera:
    camera_id: str
    name: str
    position: Position
    sensitive_site: SensitiveSite | None = None

    def __post_init__(self) -> None:
        check_identifier(self.camera_id, field_name="camera_id")
        if not self.name or len(self.name) > 200:
            raise InvalidRequest("camera name must be 1 to 200 characters", field="name")


MAX_CONFIDENCE = 1000
MAX_TEXT = 64  # make, model, color
MAX_URI = 512


@dataclass(frozen=True)
class Sighting:
    """One plate read. ``id`` is assigned by the node's database (0 before storage)."""

    plate: str
    plate_state: str
    observed_at: UnixTime
    camera_id: str
    position: Position
    confidence_per_mille: int
    vehicle_make: str = ""
    vehicle_model: str = ""
    vehicle_color: str = ""
    image_uri: str = ""
    id: int = 0
    sensitive_site: SensitiveSite | None = field(default=None, compare=False)

    @classmethod
    def create(
        cls,
        *,
        plate: str,
        plate_state: str,
        observed_at: int,
        camera_id: str,
        position: Position,
        confidence_per_mille: int,
        vehicle_make: str = "",
        vehicle_model: str = "",
        vehicle_color: str = "",
        image_uri: str = "",
    ) -> Sighting:
        """Validate and normalize raw input (ingest, CSV import).

        Raises:
            InvalidRequest: with the field at fault.
        """
        if not isinstance(observed_at, int) or observed_at <= 0:
            raise InvalidRequest("observed_at must be positive Unix seconds", field="observed_at")
        if not 0 <= confidence_per_mille <= MAX_CONFIDENCE:
            raise InvalidRequest(
                f"confidence must be 0..{MAX_CONFIDENCE} per mille", field="confidence_per_mille"
            )
        for name, text in (
            ("vehicle_make", vehicle_make),
            ("vehicle_model", vehicle_model),
            ("vehicle_color", vehicle_color),
        ):
            if len(text) > MAX_TEXT:
                raise InvalidRequest(f"longer than {MAX_TEXT} characters", field=name)
        if image_uri and (len(image_uri) > MAX_URI or "://" not in image_uri):
            raise InvalidRequest(
                "must be an absolute URI of at most 512 characters "
                "(images are referenced, never stored)",
                field="image_uri",
            )
        return cls(
            plate=normalize_plate(plate),
            plate_state=check_state(plate_state, field_name="plate_state"),
            observed_at=observed_at,
            camera_id=check_identifier(camera_id, field_name="camera_id"),
            position=position,
            confidence_per_mille=confidence_per_mille,
            vehicle_make=vehicle_make.strip(),
            vehicle_model=vehicle_model.strip(),
            vehicle_color=vehicle_color.strip().lower(),
            image_uri=image_uri,
        )

    def to_canonical(self) -> dict[str, object]:
        """The form hashed into a node receipt's results digest (see docs/PROTOCOL.md)."""
        return canonical_sighting(self.to_row())

    def to_row(self) -> SightingRow:
        """This sighting as a row of the node's search (the ``SIGHTING_ROW`` columns)."""
        return (
            self.id,
            self.plate,
            self.plate_state,
            self.observed_at,
            self.camera_id,
            self.position.latitude_e6,
            self.position.longitude_e6,
            self.vehicle_make,
            self.vehicle_model,
            self.vehicle_color,
            self.confidence_per_mille,
            self.image_uri,
            self.sensitive_site.value if self.sensitive_site else None,
        )

    @classmethod
    def from_row(cls, row: SightingRow) -> Sighting:
        """A stored sighting from its search row (trusted: the node's own database).

        Raises:
            ValueError: the row's sensitive-site category is unknown.
        """
        (
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
        ) = row
        return cls(
            id=id_,
            plate=plate,
            plate_state=state,
            observed_at=observed_at,
            camera_id=camera_id,
            position=Position(lat, lon),
            vehicle_make=make,
            vehicle_model=model,
            vehicle_color=color,
            confidence_per_mille=conf,
            image_uri=uri,
            sensitive_site=SensitiveSite(site) if site else None,
        )


# A sighting as one row of the node's search statement, in this column order (the node's
# FIND_SIGHTINGS selects exactly these; tests/unit/core/test_sighting_rows.py checks it). The
# node answers from rows: no Sighting object per released sighting on its hot path.
SIGHTING_ROW = (
    "id",
    "plate",
    "plate_state",
    "observed_at",
    "camera_id",
    "lat_e6",
    "lon_e6",
    "make",
    "model",
    "color",
    "confidence_per_mille",
    "image_uri",
    "sensitive_site",  # the camera's category, or None
)
SightingRow = tuple[int, str, str, int, str, int, int, str, str, str, int, str, "str | None"]
# Literals (not SIGHTING_ROW.index) so the type checker knows each column's type.
ROW_OBSERVED_AT: Final = 3
ROW_SENSITIVE_SITE: Final = 12


def canonical_sighting(row: SightingRow) -> dict[str, object]:
    """The canonical form of one returned sighting, hashed (as a JSON array of these, in the
    order sent) into a node receipt's results digest; docs/PROTOCOL.md. The one definition:
    ``Sighting.to_canonical`` is this of its row. The sensitive-site category is not in it."""
    (id_, plate, state, observed_at, camera_id, lat, lon, make, model, color, conf, uri, _site) = (
        row
    )
    return {
        "id": id_,
        "plate": plate,
        "plate_state": state,
        "observed_at": observed_at,
        "camera_id": camera_id,
        "position": [lat, lon],
        "confidence_per_mille": conf,
        "vehicle": [make, model, color],
        "image_uri": uri,
    }


MAX_WINDOW_SPAN_S = 400 * 86_400  # longer than any state's retention that we know of
MAX_WINDOW_LOOKBACK_S = 20 * 365 * 86_400  # absurd beyond this (retention clips far earlier)
MAX_WINDOW_FUTURE_S = 300  # clock skew between an officer's machine, the gateway and a node


@dataclass(frozen=True)
class TimeWindow:
    """An inclusive window of observation times [start, end], Unix seconds."""

    start: UnixTime
    end: UnixTime

    def check_sane(
        self,
        *,
        now: UnixTime,
        max_span: int = MAX_WINDOW_SPAN_S,
        max_lookback: int = MAX_WINDOW_LOOKBACK_S,
    ) -> None:
        """Raises: InvalidWindow when inverted, in the future, too long or reaching too far back.

        The end may pass ``now`` by a little clock skew only: sightings are never in the future.
        """
        if self.start < 0 or self.end < 0:
            raise InvalidWindow("window bounds must be non-negative Unix seconds", field="window")
        if self.start > self.end:
            raise InvalidWindow("window starts after it ends", field="window")
        if self.start > now + MAX_WINDOW_FUTURE_S:
            raise InvalidWindow("window starts in the future", field="window")
        if self.end > now + MAX_WINDOW_FUTURE_S:
            raise InvalidWindow("window ends in the future", field="window")
        if self.end - self.start > max_span:
            raise InvalidWindow(
                f"window spans {self.end - self.start} s, more than the {max_span} s allowed",
                field="window",
            )
        if now - self.start > max_lookback:
            raise InvalidWindow(
                f"window reaches back {now - self.start} s, more than the {max_lookback} s allowed",
                field="window",
            )

    def contains(self, other: TimeWindow) -> bool:
        return self.start <= other.start and other.end <= self.end

    def to_canonical(self) -> list[int]:
        return [self.start, self.end]


@dataclass(frozen=True)
class Agency:
    """A member of the federation, as the federation file lists it."""

    agency_id: AgencyId
    name: str
    state: str
    kind: AgencyKind
    node_address: str = ""  # empty when the agency runs no node (a requester only)
    node_key: bytes = b""  # raw Ed25519 public key that signs the node's receipts
    # States whose law asks for a written declaration (e.g. 625 ILCS 5/2-130(c)) and for which
    # this agency has one on file: the data holder's state codes.
    declarations_on_file: frozenset[str] = frozenset()

    @property
    def runs_node(self) -> bool:
        return bool(self.node_address)
