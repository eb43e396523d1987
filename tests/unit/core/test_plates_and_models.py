"""Plate normalization and model validation: what ingest and queries accept or refuse."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alprfed.errors import InvalidPlate, InvalidRequest, InvalidWindow
from alprfed.models import (
    Position,
    Sighting,
    TimeWindow,
    check_state,
    normalize_plate,
    parse_purpose,
)


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("7abc123", "7ABC123"),
        ("AB 12345", "AB12345"),  # Illinois format with a space
        ("ABC-1234", "ABC1234"),  # Virginia format with a dash
        ("  x 1 - y 2 ", "X1Y2"),
        ("A", "A"),
    ],
)
def test_normalizes_spaces_dashes_and_case(raw: str, plate: str) -> None:
    assert normalize_plate(raw) == plate


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "--",
        "ABC#123",
        "ABC.123",
        "ÄBC123",
        "ABC_123",
        "ABCDEFGHIJK",
        "1234567890X",
        "DROP TABLE;",
        "ab\x00c",
    ],
)
def test_refuses_anything_else_with_a_clear_error(raw: str) -> None:
    with pytest.raises(InvalidPlate) as excinfo:
        normalize_plate(raw)
    assert "A-Z and 0-9" in str(excinfo.value)
    assert excinfo.value.field == "plate"


@given(st.text(alphabet=string.ascii_letters + string.digits + " -", max_size=30))
def test_normalized_plates_are_idempotent_and_alphanumeric(raw: str) -> None:
    try:
        plate = normalize_plate(raw)
    except InvalidPlate:
        return
    assert plate == normalize_plate(plate)
    assert plate.isalnum()
    assert plate.isascii()
    assert plate == plate.upper()
    assert 1 <= len(plate) <= 10


@given(
    st.text(max_size=12).filter(
        lambda s: any(c not in string.ascii_letters + string.digits + " -\t\n\r\x0b\x0c" for c in s)
    )
)
def test_any_other_character_is_refused(raw: str) -> None:
    with pytest.raises(InvalidPlate):
        normalize_plate(raw)


def test_state_codes() -> None:
    assert check_state("ca") == "CA"
    with pytest.raises(InvalidRequest):
        check_state("XX")


def test_purpose_error_lists_the_accepted_purposes() -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        parse_purpose("curiosity")
    assert "homicide" in str(excinfo.value)
    assert "amber_alert" in str(excinfo.value)


def test_position_range() -> None:
    Position(90_000_000, -180_000_000)
    with pytest.raises(InvalidRequest):
        Position(90_000_001, 0)
    with pytest.raises(InvalidRequest):
        Position(0, 180_000_001)


def _sighting(**overrides: object) -> Sighting:
    fields: dict[str, object] = dict(
        plate="7abc 123",
        plate_state="ca",
        observed_at=1_700_000_000,
        camera_id="cam-1",
        position=Position(37_338_208, -121_886_329),
        confidence_per_mille=930,
    )
    fields.update(overrides)
    return Sighting.create(**fields)  # type: ignore[arg-type]


def test_sighting_create_normalizes() -> None:
    s = _sighting(vehicle_color=" Blue ")
    assert (s.plate, s.plate_state, s.vehicle_color) == ("7ABC123", "CA", "blue")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"plate": "7ABC#23"}, "plate"),
        ({"plate_state": "ZZ"}, "plate_state"),
        ({"observed_at": 0}, "observed_at"),
        ({"camera_id": "Cam One"}, "camera_id"),
        ({"confidence_per_mille": 1001}, "confidence_per_mille"),
        ({"image_uri": "not a uri"}, "image_uri"),
        ({"vehicle_make": "x" * 65}, "vehicle_make"),
    ],
)
def test_sighting_create_names_the_bad_field(override: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as excinfo:
        _sighting(**override)
    assert excinfo.value.field == field


NOW = 1_764_000_000


@pytest.mark.parametrize(
    ("window", "message"),
    [
        (TimeWindow(NOW, NOW - 1), "starts after it ends"),
        (TimeWindow(NOW + 3600, NOW + 7200), "starts in the future"),
        (TimeWindow(NOW - 3600, NOW + 40 * 365 * 86400), "ends in the future"),
        (TimeWindow(NOW - 500 * 86400, NOW), "spans"),
        (TimeWindow(-5, 10), "non-negative"),
    ],
)
def test_insane_windows_are_refused(window: TimeWindow, message: str) -> None:
    with pytest.raises(InvalidWindow, match=message):
        window.check_sane(now=NOW)


def test_window_containment() -> None:
    outer = TimeWindow(100, 200)
    assert outer.contains(TimeWindow(100, 200))
    assert outer.contains(TimeWindow(150, 160))
    assert not outer.contains(TimeWindow(99, 150))
    assert not outer.contains(TimeWindow(150, 201))


@pytest.mark.parametrize("raw", ["ß", "straße", "ﬁ1", "ı1"])
def test_letters_that_upper_case_into_ascii_are_refused(raw: str) -> None:
    # "ß".upper() == "SS": normalizing must not turn a non-plate into a plate.
    with pytest.raises(InvalidPlate):
        normalize_plate(raw)
