"""Synthetic node data: plate formats, cities, reproducibility, realism and the demo plates."""

from __future__ import annotations

import datetime as dt
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agency_node.synthetic import (
    CLINIC_VISITOR,
    DEMO_PLATES,
    PRESETS,
    STALE,
    SUSPECT,
    city_for,
    generate,
)
from agency_node.synthetic.generate import _apportion
from agency_node.synthetic.grid import SENSITIVE_SITES, route
from agency_node.synthetic.plates import format_pattern, random_plate
from alprfed.errors import InvalidRequest
from alprfed.models import US_STATES, SensitiveSite, Sighting, check_identifier, normalize_plate

NOW = 1_764_000_000  # Monday 2025-11-24 16:00 UTC
DAY = 86_400


def sightings_of(count: int = 4000, **overrides: object) -> list[Sighting]:
    args: dict[str, object] = {
        "agency_id": "sjpd", "state": "CA", "sightings": count, "seed": 7, "now": NOW,
    }  # fmt: skip
    args.update(overrides)
    return list(generate(**args).sightings)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "printed", "stored"),
    [
        ("CA", r"[0-9][A-Z]{3}[0-9]{3}", r"[0-9][A-Z]{3}[0-9]{3}"),
        ("IL", r"[A-Z]{2} [0-9]{5}", r"[A-Z]{2}[0-9]{5}"),
        ("VA", r"[A-Z]{3}-[0-9]{4}", r"[A-Z]{3}[0-9]{4}"),
        ("WA", r"[A-Z]{3}[0-9]{4}", r"[A-Z]{3}[0-9]{4}"),
        ("MN", r"[A-Z]{3}[0-9]{3}", r"[A-Z]{3}[0-9]{3}"),
        ("TX", r"[A-Z]{3}[0-9]{4}", r"[A-Z]{3}[0-9]{4}"),
    ],
)
def test_state_plate_formats(state: str, printed: str, stored: str) -> None:
    rng = random.Random(state)
    for _ in range(50):
        plate = random_plate(state, rng)
        assert re.fullmatch(printed, plate), plate
        assert re.fullmatch(stored, normalize_plate(plate)), plate


@settings(max_examples=300)
@given(st.sampled_from(sorted(US_STATES)), st.integers(min_value=0, max_value=2**32))
def test_every_state_makes_valid_plates_of_its_own_format(state: str, seed: int) -> None:
    plate = random_plate(state, random.Random(seed))
    assert format_pattern(state).fullmatch(plate)
    assert not set(plate) & set("IOQ")
    normalize_plate(plate)  # raises if it is not a storable plate


def test_same_seed_and_now_give_identical_data() -> None:
    first = generate(agency_id="sjpd", state="CA", sightings=3000, seed=11, now=NOW)
    second = generate(agency_id="sjpd", state="CA", sightings=3000, seed=11, now=NOW)

    assert first.cameras == second.cameras
    assert list(first.sightings) == list(second.sightings)


@settings(max_examples=10, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_different_seeds_give_different_traffic(seed: int) -> None:
    assert sightings_of(800, seed=seed) != sightings_of(800, seed=seed + 1)


def test_exactly_n_sightings_in_time_order_within_the_window() -> None:
    days = 14
    found = sightings_of(5000, days=days)

    assert len(found) == 5000
    assert [s.observed_at for s in found] == sorted(s.observed_at for s in found)
    demo = {plate.plate for plate in DEMO_PLATES}
    traffic = [s for s in found if s.plate not in demo]
    assert min(s.observed_at for s in traffic) >= NOW - days * DAY
    assert max(s.observed_at for s in found) <= NOW


def test_every_sighting_passes_ingest_validation() -> None:
    for sighting in sightings_of(2000, state="IL"):
        again = Sighting.create(
            plate=sighting.plate,
            plate_state=sighting.plate_state,
            observed_at=sighting.observed_at,
            camera_id=sighting.camera_id,
            position=sighting.position,
            confidence_per_mille=sighting.confidence_per_mille,
            vehicle_make=sighting.vehicle_make,
            vehicle_model=sighting.vehicle_model,
            vehicle_color=sighting.vehicle_color,
            image_uri=sighting.image_uri,
        )
        assert again == sighting


def test_mostly_in_state_plates_with_some_visitors() -> None:
    states = Counter(s.plate_state for s in sightings_of(20_000, state="VA", agency_id="npd"))

    in_state = states["VA"] / sum(states.values())
    assert 0.8 < in_state < 0.98
    assert len(states) >= 4


def test_rush_hours_are_busier_than_the_night() -> None:
    offset = PRESETS["chicago"].utc_offset_hours * 3600
    hours = Counter(
        dt.datetime.fromtimestamp(s.observed_at + offset, dt.UTC).hour
        for s in sightings_of(20_000, state="IL", agency_id="cpd")
    )

    assert hours[8] > 5 * hours[3]
    assert hours[17] > 5 * hours[3]


def test_commuters_are_seen_repeatedly() -> None:
    plates = Counter(s.plate for s in sightings_of(20_000, state="MN", agency_id="mpls"))

    regulars = [plate for plate, seen in plates.items() if seen >= 20]
    assert len(regulars) >= 50


def test_cameras_cover_the_city_with_every_sensitive_site() -> None:
    data = generate(agency_id="spd", state="WA", sightings=0, seed=1, now=NOW, demo=False)
    center = PRESETS["seattle"].center

    ids = [camera.camera_id for camera in data.cameras]
    assert len(set(ids)) == len(ids) >= 30
    for camera_id in ids:
        check_identifier(camera_id, field_name="camera_id")
    sites = Counter(camera.sensitive_site for camera in data.cameras if camera.sensitive_site)
    assert sites == Counter(kind for kind, _ in SENSITIVE_SITES)
    for camera in data.cameras:
        assert abs(camera.position.latitude_e6 - center.latitude_e6) < 30_000  # ~3.3 km
        assert abs(camera.position.longitude_e6 - center.longitude_e6) < 45_000


def test_demo_plates_tell_their_stories() -> None:
    data = generate(agency_id="npd", state="VA", sightings=5000, seed=3, now=NOW)
    cameras = {camera.camera_id: camera for camera in data.cameras}
    by_plate: dict[str, list[Sighting]] = {}
    for sighting in data.sightings:
        by_plate.setdefault(sighting.plate, []).append(sighting)

    suspect = by_plate[SUSPECT.plate]
    assert suspect
    assert all(NOW - 2 * DAY <= s.observed_at <= NOW for s in suspect)

    at_clinic = [
        s for s in by_plate[CLINIC_VISITOR.plate]
        if cameras[s.camera_id].sensitive_site is SensitiveSite.REPRODUCTIVE_HEALTH_CARE
    ]  # fmt: skip
    assert len(at_clinic) >= 7
    assert all(s.observed_at > NOW - 21 * DAY for s in at_clinic)

    stale = by_plate[STALE.plate]
    assert stale
    assert all(NOW - 35 * DAY <= s.observed_at < NOW - 21 * DAY for s in stale)


def test_nodes_seeded_alike_share_plates_across_states() -> None:
    plates = [
        {s.plate for s in sightings_of(30_000, agency_id=agency, state=state)}
        for agency, state in (("sjpd", "CA"), ("cpd", "IL"), ("npd", "VA"))
    ]

    shared = plates[0] & plates[1] & plates[2]
    assert {plate.plate for plate in DEMO_PLATES} <= shared
    assert len(shared) > len(DEMO_PLATES)  # interstate traffic, too


def test_city_presets_and_fallback() -> None:
    assert city_for("CA").name == "San Jose"
    assert city_for("IL").name == "Chicago"
    assert city_for("NH").name == "Concord"
    assert city_for("CA", "seattle").state == "WA"
    with pytest.raises(InvalidRequest, match="no city preset"):
        city_for("CA", "atlantis")


def test_refuses_counts_it_cannot_honour() -> None:
    with pytest.raises(InvalidRequest, match="demo plates"):
        generate(agency_id="sjpd", state="CA", sightings=5, seed=1, now=NOW)
    with pytest.raises(InvalidRequest, match="days"):
        generate(agency_id="sjpd", state="CA", sightings=100, seed=1, now=NOW, days=0)
    assert sightings_of(0, demo=False) == []


def test_route_goes_along_the_street_then_the_avenue() -> None:
    assert list(route((1, 1), (3, 3))) == [(1, 1), (1, 2), (1, 3), (2, 3), (3, 3)]
    assert list(route((2, 2), (0, 0))) == [(2, 2), (2, 1), (2, 0), (1, 0), (0, 0)]
    assert list(route((4, 4), (4, 4))) == [(4, 4)]


@given(st.integers(0, 10**6), st.lists(st.integers(0, 10**6), min_size=1, max_size=60))
def test_apportion_splits_exactly(total: int, weights: list[int]) -> None:
    shares = _apportion(total, weights)

    assert sum(shares) == total
    if sum(weights):
        for share, weight in zip(shares, weights, strict=True):
            assert abs(share - total * weight / sum(weights)) < 1
