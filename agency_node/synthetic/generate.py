"""Synthetic ALPR data for one node: exactly N sightings over the last D days before ``now``.

Reproducible: the same agency, state, seed, ``now``, days and N give the same cameras and the
same sightings in the same order. The randomness is a ``random.Random`` seeded from those
inputs; a few vehicles (INTERSTATE_VEHICLES) are drawn from the seed alone, so nodes seeded with
one seed share their plates, like the demo plates.

The N sightings are spread over the local days of the window in proportion to how much of each
day the window covers, weekends lighter. Each day is filled with whole vehicle-days (commutes,
errands, visits; see ``traffic``) until its share is reached, then sorted by time, so the
sightings come out oldest first and their database ids follow time. Only one day is held in
memory at a time.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, replace

from agency_node.synthetic.cities import NATIONAL_VISITORS, City, city_for
from agency_node.synthetic.demo import demo_sightings
from agency_node.synthetic.grid import CityGrid, build_grid
from agency_node.synthetic.traffic import (
    DAY,
    HOUR,
    Driver,
    Vehicle,
    make_vehicles,
    place_vehicle,
    random_identity,
)
from alprfed.errors import InvalidRequest
from alprfed.models import Camera, Sighting, check_identifier, check_state

DEFAULT_DAYS = 30
MAX_DAYS = 400
MIN_VEHICLES = 50
# Pool sizing: with about this many sightings per vehicle and day of the window, roughly half
# the vehicles drive on any given day, as in a real city.
SIGHTINGS_PER_VEHICLE_DAY = 4
MAX_VEHICLES = 500_000
INTERSTATE_VEHICLES = 24
WEEKEND_TRAFFIC_PERCENT = 70  # weekend traffic relative to a weekday


@dataclass(frozen=True)
class SyntheticData:
    city: City
    cameras: list[Camera]
    sightings: Iterator[Sighting]  # exactly ``total``, oldest first
    total: int
    demo_sightings: int  # how many of ``total`` belong to the demo plates
    window: tuple[int, int]  # the span the traffic covers, Unix seconds


def generate(
    *,
    agency_id: str,
    state: str,
    sightings: int,
    seed: int,
    now: int,
    days: int = DEFAULT_DAYS,
    city: str | None = None,
    demo: bool = True,
) -> SyntheticData:
    """Plan a node's synthetic data; the sightings are produced lazily as they are consumed.

    ``city`` names a preset (``cities.PRESETS``); by default the state's preset or capital.
    With ``demo`` the demo plates' sightings are part of the ``sightings`` total.

    Raises:
        InvalidRequest: a count or span out of range, an unknown state or city preset, or too
            few sightings to hold the demo plates'.
    """
    state = check_state(state)
    check_identifier(agency_id, field_name="agency_id")
    if not 1 <= days <= MAX_DAYS:
        raise InvalidRequest(f"days must be 1 to {MAX_DAYS}", field="days")
    if sightings < 0:
        raise InvalidRequest("the number of sightings cannot be negative", field="sightings")
    place = city_for(state, city)
    rng = random.Random(f"alprfed-seed:{seed}:{agency_id}:{state}:{place.key}")
    grid = build_grid(place, rng)
    driver = Driver(grid, rng)
    demo_list = demo_sightings(grid, driver, now, rng) if demo else []
    if len(demo_list) > sightings:
        raise InvalidRequest(
            f"at least {len(demo_list)} sightings are needed to hold the demo plates' "
            "sightings (or leave the demo plates out)",
            field="sightings",
        )
    traffic = sightings - len(demo_list)
    pool = min(MAX_VEHICLES, max(MIN_VEHICLES, traffic // (days * SIGHTINGS_PER_VEHICLE_DAY)))
    vehicles = _interstate(grid, seed, rng) + make_vehicles(grid, pool, rng)
    return SyntheticData(
        city=place,
        cameras=list(grid.cameras.values()),
        sightings=_timeline(grid, driver, vehicles, demo_list, traffic, now, days, rng),
        total=sightings,
        demo_sightings=len(demo_list),
        window=(now - days * DAY, now),
    )


def _interstate(grid: CityGrid, seed: int, rng: random.Random) -> list[Vehicle]:
    """Vehicles every node seeded with ``seed`` sees: same plates, passing through."""
    shared = random.Random(f"alprfed-interstate:{seed}")
    identities = [
        random_identity(shared.choice(NATIONAL_VISITORS), shared)
        for _ in range(INTERSTATE_VEHICLES)
    ]
    return [
        replace(place_vehicle(who, grid, rng), work=None, school=None, weekly_site=None)
        for who in identities
    ]


def _timeline(
    grid: CityGrid,
    driver: Driver,
    vehicles: list[Vehicle],
    demo: list[Sighting],
    traffic: int,
    now: int,
    days: int,
    rng: random.Random,
) -> Iterator[Sighting]:
    offset = grid.city.utc_offset_hours * HOUR
    start = now - days * DAY
    dates = list(range((start + offset) // DAY, (now + offset) // DAY + 1))
    demo_by_date: dict[int, list[Sighting]] = {}
    for sighting in demo:
        demo_by_date.setdefault((sighting.observed_at + offset) // DAY, []).append(sighting)
    # Demo sightings older than the window (the stale plate) come first.
    yield from sorted(
        (s for date in sorted(demo_by_date) if date < dates[0] for s in demo_by_date[date]),
        key=_time_order,
    )
    weights = []
    for date in dates:
        covered = min(now + 1, (date + 1) * DAY - offset) - max(start, date * DAY - offset)
        weekday = (date + 3) % 7  # 1970-01-01, day 0, was a Thursday (Monday is 0)
        weights.append(max(0, covered) * (100 if weekday < 5 else WEEKEND_TRAFFIC_PERCENT))
    cameras = list(grid.cameras.values())
    for date, budget in zip(dates, _apportion(traffic, weights), strict=True):
        midnight = date * DAY - offset
        low, high = max(start, midnight), min(now, midnight + DAY - 1)
        day: list[Sighting] = []
        for index in rng.sample(range(len(vehicles)), len(vehicles)):
            if len(day) >= budget:
                break
            trips = driver.day(vehicles[index], midnight, (date + 3) % 7)
            day += [s for s in trips if low <= s.observed_at <= high]
        del day[budget:]
        while len(day) < budget:  # a sliver of a day may hold no whole trip: passing reads
            who = rng.choice(vehicles).identity
            day.append(driver.sighting(who, rng.choice(cameras), rng.randint(low, high)))
        day += demo_by_date.get(date, [])
        day.sort(key=_time_order)
        yield from day


def _time_order(sighting: Sighting) -> tuple[int, str, str]:
    return (sighting.observed_at, sighting.camera_id, sighting.plate)


def _apportion(total: int, weights: list[int]) -> list[int]:
    """Split ``total`` in proportion to ``weights`` exactly (largest remainder method)."""
    whole = sum(weights)
    if whole == 0:
        return [total] + [0] * (len(weights) - 1)
    shares = [total * weight // whole for weight in weights]
    by_remainder = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares
