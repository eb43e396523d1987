"""Vendor format values and the mapping file: pure parsing, each refusal naming its key."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agency_node.formats import JSON_FORMATS, fields, rekor
from agency_node.formats.mapped_csv import parse_mapping
from alprfed.errors import ConfigError, InvalidRequest
from alprfed.models import Position

# Every key the JSON formats read, so generated bodies reach deep into each parser.
FUZZ_KEYS = (
    "hook", "event", "data", "camera_id", "timestamp", "results", "plate", "region", "code",
    "score", "model_make", "make", "model", "color", "data_type", "epoch_start",
    "best_plate_number", "best_region", "best_confidence", "gps_latitude", "gps_longitude",
    "vehicle", "make_model", "name", "webhook_type", "created", "license_plate_number",
    "license_plate_state", "confidence", "image_url",
)  # fmt: skip

MINIMAL = {
    "columns": {
        "plate": "Plate",
        "plate_state": "State",
        "observed_at": "Time",
        "camera_id": "Camera",
        "confidence": "Conf",
    }
}


@pytest.mark.parametrize(("code", "state"), [("us-ca", "CA"), ("US-NV", "NV"), ("ca", "CA")])
def test_vendor_region_codes_become_states(code: str, state: str) -> None:
    assert fields.us_region(code, field="region") == state


@pytest.mark.parametrize("code", ["", "gb", "us-zz", "us-"])
def test_a_region_that_is_no_us_state_is_refused_naming_the_field(code: str) -> None:
    with pytest.raises(InvalidRequest, match="best_region"):
        fields.us_region(code, field="best_region")


def test_no_gps_fix_is_no_position_and_decimals_stay_exact() -> None:
    assert fields.position({"lat": 0, "lon": 0}, "", "lat", "lon") is None
    assert fields.position({}, "", "lat", "lon") is None
    fix = {"lat": Decimal("37.0000005"), "lon": Decimal("-121.1000005")}
    assert fields.position(fix, "", "lat", "lon") == Position(37_000_000, -121_100_000)  # even
    with pytest.raises(InvalidRequest, match=r"gps\.lon"):
        fields.position({"lat": Decimal("37.1")}, "gps", "lat", "lon")


def test_json_floats_are_decoded_as_decimals() -> None:
    assert fields.load_json(b'{"c": 0.9630414285714286}', what="body") == {
        "c": Decimal("0.9630414285714286")
    }


def test_rekor_per_frame_results_are_not_reads() -> None:
    with pytest.raises(InvalidRequest, match="data_type"):
        rekor.group_reads({"data_type": "alpr_results"})


def with_changes(**tables: dict[str, Any]) -> dict[str, Any]:
    document: dict[str, Any] = {"columns": dict(MINIMAL["columns"])}
    for name, values in tables.items():
        document.setdefault(name, {}).update(values)
    return {
        key: {k: v for k, v in table.items() if v is not None} for key, table in document.items()
    }


@pytest.mark.parametrize(
    ("document", "named"),
    [
        ({"colums": {}}, "colums: unknown table"),
        ({}, "columns: the [columns] table is required"),
        (with_changes(columns={"camera_id": None}), "columns.camera_id: is required"),
        (with_changes(columns={"plate_number": "P"}), "columns.plate_number: unknown field"),
        (with_changes(columns={"latitude": "Lat"}), "columns.latitude: latitude and longitude"),
        (with_changes(columns={"confidence": None}), "columns.confidence: map a confidence"),
        (with_changes(values={"time_zone": "Mars/Olympus"}), "values.time_zone"),
        (with_changes(values={"confidence_scale": 10}), "values.confidence_scale"),
        (with_changes(values={"delimiter": ";;"}), "values.delimiter"),
        (with_changes(values={"timezone": "UTC"}), "values.timezone: unknown key"),
        (with_changes(columns={"plate": ""}), "columns.plate: must be the export's column"),
    ],
    ids=[
        "misspelt_table", "no_columns", "required_field_missing", "unknown_field",
        "latitude_alone", "no_confidence_at_all", "unknown_zone", "odd_scale",
        "long_delimiter", "misspelt_value_key", "empty_header",
    ],
)  # fmt: skip
def test_a_bad_mapping_file_names_the_key(document: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(f"mapping file vendor.toml: {named}")):
        parse_mapping(document, name="vendor.toml")


def test_local_times_are_resolved_in_the_mapping_zone_across_dst() -> None:
    mapping = parse_mapping(
        with_changes(values={"time_format": "%Y-%m-%d %H:%M", "time_zone": "America/Chicago"}),
        name="m.toml",
    )
    row = {"Plate": "ab 12", "State": "il", "Camera": "cam-1", "Conf": "0.5"}
    winter = mapping.read(row | {"Time": "2025-01-15 12:00"})
    summer = mapping.read(row | {"Time": "2025-07-15 12:00"})
    assert winter.observed_at == 1_736_964_000  # 18:00 UTC (CST, UTC-6)
    assert summer.observed_at == 1_752_598_800  # 17:00 UTC (CDT, UTC-5)
    assert (winter.plate_state, winter.confidence_per_mille) == ("IL", 500)


def test_a_mapped_cell_that_does_not_parse_names_its_header() -> None:
    mapping = parse_mapping(with_changes(values={"time_format": "unix_ms"}), name="m.toml")
    row = {"Plate": "AB12", "State": "IL", "Camera": "cam-1", "Conf": "0.5", "Time": "soon"}
    with pytest.raises(InvalidRequest, match=r"^Time: 'soon' is not whole Unix time"):
        mapping.read(row)


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8)
    | st.decimals(allow_nan=False, allow_infinity=False, places=3),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(FUZZ_KEYS), children, max_size=6),
    max_leaves=25,
)  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(JSON_FORMATS))
@given(body=JSON_VALUES)
def test_any_json_body_is_a_list_of_reads_or_one_invalid_request(fmt: str, body: Any) -> None:
    outcome: list[Any] | str
    try:
        outcome = JSON_FORMATS[fmt].reads(body)
    except InvalidRequest as exc:  # a message for the caller, never another exception type
        outcome = str(exc)
    assert isinstance(outcome, list) or outcome


def test_a_time_at_the_epoch_is_refused_naming_the_vendor_field(tmp_path: Path) -> None:
    from agency_node.formats.reads import CameraDirectory
    from agency_node.storage import NodeStore
    from alprfed.models import Camera

    group = {
        "data_type": "alpr_group", "epoch_start": 0, "camera_id": 1234,
        "best_plate_number": "8XYZ345", "best_region": "us-ca", "best_confidence": 90,
    }  # fmt: skip
    (draft,) = rekor.group_reads(group)
    with NodeStore.open(f"sqlite:///{tmp_path / 'node.db'}") as store:
        store.upsert_cameras([Camera("1234", "Alameda", Position(37_000_000, -121_000_000))])
        with pytest.raises(InvalidRequest, match=r"^epoch_start: "):
            CameraDirectory(store).finish(draft)
