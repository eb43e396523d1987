"""CSV values: exact decimal degrees, confidences, instants, and whole records."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agency_node.csv_import import (
    MAX_UNIX_SECONDS,
    parse_camera_row,
    parse_confidence,
    parse_microdegrees,
    parse_observed_at,
    parse_sighting_row,
)
from alprfed.errors import InvalidRequest
from alprfed.models import Camera, Position, SensitiveSite, Sighting

JUNE_1_1515Z = 1_748_790_900


@pytest.mark.parametrize(
    ("text", "microdegrees"),
    [
        ("37.338208", 37_338_208),
        ("-121.886329", -121_886_329),
        ("1.000001", 1_000_001),  # float("1.000001") * 1e6 is 1000000.9999999999
        ("0.1", 100_000),
        ("90", 90_000_000),
        ("+12.5", 12_500_000),
        ("37.3382085", 37_338_208),  # half to even
        ("37.3382095", 37_338_210),
    ],
)
def test_degrees_become_exact_microdegrees(text: str, microdegrees: int) -> None:
    assert parse_microdegrees(text, field="latitude") == microdegrees


@given(st.integers(min_value=-180_000_000, max_value=180_000_000))
def test_any_microdegree_value_round_trips_through_its_decimal_text(value: int) -> None:
    sign = "-" if value < 0 else ""
    text = f"{sign}{abs(value) // 1_000_000}.{abs(value) % 1_000_000:06d}"

    assert parse_microdegrees(text, field="longitude") == value


@pytest.mark.parametrize(
    "text", ["1e5", "NaN", "", "37,5", "0x10", ".5", "5.", "- 3.1", "inf", "9" * 40]
)
def test_anything_but_a_plain_decimal_is_refused_as_degrees(text: str) -> None:
    with pytest.raises(InvalidRequest, match="latitude"):
        parse_microdegrees(text, field="latitude")


@pytest.mark.parametrize(
    ("text", "per_mille"),
    [("0.93", 930), ("1", 1000), ("0", 0), ("0.9995", 1000), ("0.9985", 998), ("1.000", 1000)],
)
def test_confidence_fraction_becomes_per_mille(text: str, per_mille: int) -> None:
    assert parse_confidence(text) == per_mille


@pytest.mark.parametrize("text", ["1.01", "-0.1", "93%", "93", "high"])
def test_confidence_outside_zero_to_one_is_refused(text: str) -> None:
    with pytest.raises(InvalidRequest, match="confidence"):
        parse_confidence(text)


@pytest.mark.parametrize(
    "text",
    [
        "2025-06-01T15:15:00Z",
        "2025-06-01T08:15:00-07:00",
        "2025-06-01T17:15:00+02:00",
        "2025-06-01 15:15:00+00:00",
        "2025-06-01T15:15:00.999Z",  # fractions of a second are dropped
        "1748790900",
    ],
)
def test_observed_at_forms_name_the_same_instant(text: str) -> None:
    assert parse_observed_at(text) == JUNE_1_1515Z


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2025-06-01T15:15:00", "no UTC offset"),
        ("yesterday", "neither ISO 8601"),
        ("1748790900.5", "neither ISO 8601"),
        (str(MAX_UNIX_SECONDS + 1), "after the year 9999"),
        ("9" * 40, "after the year 9999"),
        ("9999-12-31T23:00:00-14:00", "after the year 9999"),  # 10000-01-01 in UTC
    ],
)
def test_ambiguous_or_absurd_instants_are_refused(text: str, reason: str) -> None:
    with pytest.raises(InvalidRequest, match=reason):
        parse_observed_at(text)


def test_sighting_record_is_normalized_into_a_sighting() -> None:
    row = {
        "plate": " abc-1234 ",
        "plate_state": "va",
        "observed_at": "2025-06-01T11:15:00-04:00",
        "camera_id": "npd-cam-004",
        "latitude": "36.850800",
        "longitude": "-76.285900",
        "confidence": "0.912",
        "vehicle_make": "Honda",
        "vehicle_model": "Accord",
        "vehicle_color": "Blue",
        "image_uri": "https://evidence.example/npd/1.jpg",
    }

    assert parse_sighting_row(row) == Sighting(
        plate="ABC1234",
        plate_state="VA",
        observed_at=JUNE_1_1515Z,
        camera_id="npd-cam-004",
        position=Position(36_850_800, -76_285_900),
        confidence_per_mille=912,
        vehicle_make="Honda",
        vehicle_model="Accord",
        vehicle_color="blue",
        image_uri="https://evidence.example/npd/1.jpg",
    )


def test_optional_sighting_columns_may_be_absent() -> None:
    row = {
        "plate": "7ABC123",
        "plate_state": "CA",
        "observed_at": "1748790900",
        "camera_id": "cam-1",
        "latitude": "37.3",
        "longitude": "-121.9",
        "confidence": "0.5",
    }

    sighting = parse_sighting_row(row)

    assert (sighting.vehicle_make, sighting.image_uri) == ("", "")


def test_camera_record_with_and_without_a_sensitive_site() -> None:
    base = {"camera_id": "cam-9", "name": " Clinic door ", "latitude": "1", "longitude": "2"}

    assert parse_camera_row({**base, "sensitive_site": "health_care"}) == Camera(
        "cam-9", "Clinic door", Position(1_000_000, 2_000_000), SensitiveSite.HEALTH_CARE
    )
    assert parse_camera_row({**base, "sensitive_site": ""}).sensitive_site is None
    assert parse_camera_row(base).sensitive_site is None
    with pytest.raises(InvalidRequest, match="sensitive_site"):
        parse_camera_row({**base, "sensitive_site": "spa"})
