"""Vehicles and their days: commutes, errands, weekly visits and through traffic.

Most vehicles commute: home to work on weekday mornings, back in the evening, sometimes an
evening errand; weekends bring a few errands instead. Some stop at a school on the way, some
visit a place of worship or a clinic on their own schedule, and the rest drive at random
hours. A camera reads a plate it passes with probability DETECTION_PERCENT.

Every choice comes from the ``random.Random`` passed in, so the same generator state gives the
same vehicles and the same days.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from itertools import pairwise
from typing import TypeVar

from agency_node.synthetic.cities import City
from agency_node.synthetic.grid import Cell, CityGrid, route
from agency_node.synthetic.plates import random_stored_plate
from alprfed.models import Camera, SensitiveSite, Sighting

T = TypeVar("T")

MINUTE = 60
HOUR = 3600
DAY = 86_400

DETECTION_PERCENT = 85  # a fixed camera misses some plates (angle, glare, dirt)
BLOCK_DRIVE_S = (50, 110)  # time to drive one ~500 m block, light to heavy traffic
CONFIDENCE_PER_MILLE = (620, 999, 960)  # triangular: low, high, most likely
COMMUTER_PERCENT = 65
OUT_OF_STATE_PERCENT = 8
SCHOOL_RUN_PERCENT = 12  # of commuters
WORSHIP_PERCENT = 8
CLINIC_PERCENT = 3
WEEKDAY_COMMUTE_PERCENT = 92
EVENING_ERRAND_PERCENT = 35
# Relative traffic by local hour, for trips that keep no schedule.
HOURLY_WEIGHTS = (1, 1, 1, 1, 1, 2, 4, 8, 9, 7, 6, 7, 8, 7, 7, 8, 9, 9, 8, 6, 5, 4, 3, 2)

VEHICLES = (
    ("Toyota", "Camry", 9), ("Toyota", "RAV4", 9), ("Toyota", "Corolla", 7),
    ("Honda", "Civic", 7), ("Honda", "CR-V", 7), ("Honda", "Accord", 5), ("Ford", "F-150", 9),
    ("Ford", "Escape", 4), ("Chevrolet", "Silverado", 7), ("Chevrolet", "Equinox", 5),
    ("Nissan", "Rogue", 5), ("Nissan", "Altima", 4), ("Tesla", "Model Y", 5),
    ("Tesla", "Model 3", 4), ("Jeep", "Grand Cherokee", 4), ("Subaru", "Outback", 3),
    ("Subaru", "Forester", 3), ("Hyundai", "Elantra", 3), ("Kia", "Sorento", 3),
    ("Ram", "1500", 5), ("GMC", "Sierra", 3), ("Mazda", "CX-5", 3),
    ("Volkswagen", "Jetta", 2), ("BMW", "3 Series", 2),
)  # fmt: skip
COLORS = (
    ("white", 25), ("black", 22), ("gray", 18), ("silver", 12), ("blue", 9), ("red", 8),
    ("green", 2), ("brown", 2), ("beige", 1), ("gold", 1),
)  # fmt: skip


@dataclass(frozen=True)
class Identity:
    """What a camera reads and sees: plate, issuing state, vehicle description."""

    plate: str
    plate_state: str
    make: str
    model: str
    color: str


@dataclass(frozen=True)
class Vehicle:
    identity: Identity
    home: Cell
    work: Cell | None  # None: keeps no commute
    morning_minute: int  # local minute of day the commute usually starts
    evening_minute: int
    school: Cell | None = None
    weekly_site: tuple[Cell, int, int] | None = None  # (where, weekday 0=Mon, local minute)


def random_identity(state: str, rng: random.Random) -> Identity:
    make, model = _weighted(rng, [((m, n), w) for m, n, w in VEHICLES])
    color = _weighted(rng, list(COLORS))
    return Identity(random_stored_plate(state, rng), state, make, model, color)


def make_vehicles(grid: CityGrid, count: int, rng: random.Random) -> list[Vehicle]:
    """``count`` vehicles living in ``grid``'s city, mostly with in-state plates."""
    city = grid.city
    vehicles = []
    for _ in range(count):
        state = city.state
        if rng.randrange(100) < OUT_OF_STATE_PERCENT:
            state = _visitor_state(city, rng)
        vehicles.append(place_vehicle(random_identity(state, rng), grid, rng))
    return vehicles


def place_vehicle(identity: Identity, grid: CityGrid, rng: random.Random) -> Vehicle:
    """Give a vehicle a home in ``grid``'s city, and maybe a commute and a weekly routine."""
    commutes = rng.randrange(100) < COMMUTER_PERCENT
    school = None
    if commutes and rng.randrange(100) < SCHOOL_RUN_PERCENT:
        school = grid.site(SensitiveSite.SCHOOL)
    weekly = None
    roll = rng.randrange(100)
    if roll < WORSHIP_PERCENT:
        church = rng.random() < 0.5
        place = grid.sites["St. Mary's Church" if church else "Islamic Center"]
        weekly = (place, 6, 9 * 60 + 30) if church else (place, 4, 12 * 60 + 40)
    elif roll < WORSHIP_PERCENT + CLINIC_PERCENT:
        kind = rng.choice((SensitiveSite.HEALTH_CARE, SensitiveSite.REPRODUCTIVE_HEALTH_CARE))
        weekly = (grid.site(kind), rng.randrange(5), rng.randrange(9 * 60, 16 * 60))
    return Vehicle(
        identity=identity,
        home=grid.random_cell(rng),
        work=grid.random_cell(rng) if commutes else None,
        morning_minute=int(rng.gauss(7 * 60 + 40, 35)),
        evening_minute=int(rng.gauss(17 * 60 + 20, 50)),
        school=school,
        weekly_site=weekly,
    )


class Driver:
    """Turns trips through ``grid`` into the sightings its cameras make."""

    def __init__(self, grid: CityGrid, rng: random.Random) -> None:
        self.grid = grid
        self.rng = rng
        self._image_base = f"https://alpr-images.{grid.city.key}.example"

    def day(self, vehicle: Vehicle, local_midnight: int, weekday: int) -> list[Sighting]:
        """Everything ``vehicle`` does on one local day (midnight given in Unix seconds)."""
        rng, found = self.rng, []

        def at(minute: int) -> int:
            """An instant near ``minute`` of this local day: nobody leaves to the second."""
            return local_midnight + minute * MINUTE + rng.randrange(-10 * MINUTE, 10 * MINUTE)

        if vehicle.work is not None and weekday < 5:
            if rng.randrange(100) < WEEKDAY_COMMUTE_PERCENT:
                stops = [vehicle.home, *([vehicle.school] if vehicle.school else []), vehicle.work]
                found += self.drive(vehicle.identity, stops, at(vehicle.morning_minute))
                home = [vehicle.work, vehicle.home]
                found += self.drive(vehicle.identity, home, at(vehicle.evening_minute))
            if rng.randrange(100) < EVENING_ERRAND_PERCENT:
                found += self.errand(vehicle, at(rng.randrange(19 * 60, 21 * 60)))
        elif vehicle.work is not None:
            for _ in range(rng.randrange(3)):
                found += self.errand(vehicle, at(rng.randrange(9 * 60, 20 * 60)))
        else:
            for _ in range(rng.randrange(1, 4)):
                hour = _weighted(rng, list(enumerate(HOURLY_WEIGHTS)))
                stops = [self.grid.random_cell(rng), self.grid.random_cell(rng)]
                found += self.drive(vehicle.identity, stops, at(hour * 60))
        if vehicle.weekly_site is not None and vehicle.weekly_site[1] == weekday:
            place, _, minute = vehicle.weekly_site
            found += self.round_trip(vehicle.identity, vehicle.home, place, at(minute))
        return found

    def errand(self, vehicle: Vehicle, start: int) -> list[Sighting]:
        place = self.grid.random_cell(self.rng)
        return self.round_trip(vehicle.identity, vehicle.home, place, start)

    def round_trip(self, who: Identity, home: Cell, place: Cell, start: int) -> list[Sighting]:
        """There, a stay of half an hour to two hours, and back."""
        there = self.drive(who, [home, place], start)
        back_at = start + self.rng.randrange(30 * MINUTE, 2 * HOUR)
        return there + self.drive(who, [place, home], back_at)

    def drive(
        self, who: Identity, stops: list[Cell], start: int, *, certain: bool = False
    ) -> list[Sighting]:
        """Sightings of a drive through ``stops``; ``certain`` makes every camera read it."""
        # random() rather than randrange(): this loop runs once per block driven, and
        # randrange's pure-Python checks would be most of the generator's time.
        uniform, cameras, t, found = self.rng.random, self.grid.cameras, start, []
        fastest, spread = BLOCK_DRIVE_S[0], BLOCK_DRIVE_S[1] - BLOCK_DRIVE_S[0]
        for leg_start, leg_end in pairwise(stops):
            for cell in route(leg_start, leg_end):
                camera = cameras.get(cell)
                if camera is not None and (certain or uniform() * 100 < DETECTION_PERCENT):
                    found.append(self.sighting(who, camera, t))
                t += fastest + int(uniform() * spread)
        return found

    def sighting(self, who: Identity, camera: Camera, observed_at: int) -> Sighting:
        return Sighting(
            plate=who.plate,
            plate_state=who.plate_state,
            observed_at=observed_at,
            camera_id=camera.camera_id,
            position=camera.position,
            confidence_per_mille=int(self.rng.triangular(*CONFIDENCE_PER_MILLE)),
            vehicle_make=who.make,
            vehicle_model=who.model,
            vehicle_color=who.color,
            image_uri=f"{self._image_base}/{camera.camera_id}/{observed_at}-{who.plate}.jpg",
        )


def _visitor_state(city: City, rng: random.Random) -> str:
    # The first-listed neighbours are the likeliest, as traffic falls off with distance.
    weights = range(len(city.visitor_states), 0, -1)
    return rng.choices(city.visitor_states, weights=weights)[0]


def _weighted(rng: random.Random, options: list[tuple[T, int]]) -> T:
    values = [value for value, _ in options]
    return rng.choices(values, weights=[weight for _, weight in options])[0]
