"""Plates of interest for demos: the same plates in every node, each with a story to tell.

Every seeded node holds sightings of these plates in its own city, so one federated query shows
what each state's law lets through:

- ``SUSPECT``: a car wanted in a robbery, driven across the country. Every node sees it pass
  downtown within the last two days, at a different hour per state, so a warranted federated
  query returns sightings from several states.
- ``CLINIC_VISITOR``: a car seen again and again at the camera by a family planning clinic over
  the last three weeks. Shield laws (e.g. California, Washington) refuse to release such
  sightings for an out-of-state investigation of reproductive health care, and nodes withhold
  sightings at the sensitive sites their law names.
- ``STALE``: a car seen only 22 to 34 days ago. Under a 21-day retention (Virginia, Va. Code
  2.2-5517; Washington) those sightings are purged and no query returns them; a node with a
  longer retention (Minnesota's 60 days) still holds them.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass

from agency_node.synthetic.grid import CityGrid
from agency_node.synthetic.traffic import DAY, HOUR, MINUTE, Driver, Identity
from alprfed.models import SensitiveSite, Sighting


@dataclass(frozen=True)
class DemoPlate:
    key: str
    identity: Identity
    story: str

    @property
    def plate(self) -> str:
        return self.identity.plate


SUSPECT = DemoPlate(
    "suspect",
    Identity("8FXR413", "CA", "Honda", "Civic", "gray"),
    "robbery suspect driving across states: every node saw it within the last two days",
)
CLINIC_VISITOR = DemoPlate(
    "clinic_visitor",
    Identity("CDK4417", "WA", "Subaru", "Outback", "green"),
    "seen every few days at the family planning clinic's camera (a sensitive site)",
)
STALE = DemoPlate(
    "stale",
    Identity("UKT5532", "VA", "Ford", "Escape", "red"),
    "seen only 22 to 34 days ago: gone from every node with a 21-day retention (VA, WA)",
)
DEMO_PLATES: tuple[DemoPlate, ...] = (SUSPECT, CLINIC_VISITOR, STALE)

SUSPECT_HOURS_AGO = (2, 40)  # the pass downtown happens within this range, per state
CLINIC_VISIT_DAYS_AGO = (1, 4, 7, 10, 13, 16, 19)
CLINIC_VISIT_MINUTE = 10 * 60  # local mid-morning appointments
STALE_DAYS_AGO = (22, 24, 27, 29, 31, 34)


def demo_sightings(grid: CityGrid, driver: Driver, now: int, rng: random.Random) -> list[Sighting]:
    """The demo plates' sightings in ``grid``'s city, relative to ``now``."""
    city, found = grid.city, []
    offset = city.utc_offset_hours * HOUR

    def local_midnight(days_ago: int) -> int:
        return (now - days_ago * DAY + offset) // DAY * DAY - offset

    # A stable hour per state, so the suspect's trail runs through the states in turn.
    low, high = SUSPECT_HOURS_AGO
    hours_ago = low + zlib.crc32(city.state.encode()) % (high - low)
    row = grid.busiest_row()
    through_downtown = [(row, 0), (row, grid.columns - 1)]
    found += driver.drive(SUSPECT.identity, through_downtown, now - hours_ago * HOUR, certain=True)

    # Trips start and end at cameras, so each demo trip is seen at least twice.
    camera_cells = sorted(grid.cameras)
    home, clinic = rng.choice(camera_cells), grid.site(SensitiveSite.REPRODUCTIVE_HEALTH_CARE)
    for days_ago in CLINIC_VISIT_DAYS_AGO:
        start = local_midnight(days_ago) + CLINIC_VISIT_MINUTE * MINUTE + rng.randrange(HOUR)
        there = driver.drive(CLINIC_VISITOR.identity, [home, clinic], start, certain=True)
        back_at = start + rng.randrange(HOUR, 2 * HOUR)
        found += there + driver.drive(
            CLINIC_VISITOR.identity, [clinic, home], back_at, certain=True
        )

    stale_home, stale_work = rng.choice(camera_cells), rng.choice(camera_cells)
    for days_ago in STALE_DAYS_AGO:
        start = local_midnight(days_ago) + 8 * HOUR + rng.randrange(HOUR)
        found += driver.drive(STALE.identity, [stale_home, stale_work], start, certain=True)
    return found
