"""Cameras on a city's street grid, a few of them at sensitive sites, and routes between them."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

from agency_node.synthetic.cities import City
from alprfed.models import Camera, SensitiveSite

Cell = tuple[int, int]  # (row, column): where street ``row`` crosses avenue ``column``

CAMERA_COVERAGE_PERCENT = 60  # share of intersections with a fixed camera
# Places near which sightings reveal protected activity; each gets one camera at its corner.
SENSITIVE_SITES: tuple[tuple[SensitiveSite, str], ...] = (
    (SensitiveSite.REPRODUCTIVE_HEALTH_CARE, "Family planning clinic"),
    (SensitiveSite.HEALTH_CARE, "Community health center"),
    (SensitiveSite.PLACE_OF_WORSHIP, "St. Mary's Church"),
    (SensitiveSite.PLACE_OF_WORSHIP, "Islamic Center"),
    (SensitiveSite.SCHOOL, "Lincoln Elementary School"),
    (SensitiveSite.IMMIGRATION_SERVICES, "Immigration law office"),
    (SensitiveSite.SHELTER, "Family shelter"),
)


@dataclass(frozen=True)
class CityGrid:
    """The city, its cameras by intersection, and the intersections of its sensitive sites."""

    city: City
    cameras: dict[Cell, Camera]
    sites: dict[str, Cell]  # site name -> its intersection

    @property
    def rows(self) -> int:
        return len(self.city.streets)

    @property
    def columns(self) -> int:
        return len(self.city.avenues)

    def random_cell(self, rng: random.Random) -> Cell:
        return (rng.randrange(self.rows), rng.randrange(self.columns))

    def site(self, category: SensitiveSite) -> Cell:
        """The intersection of the first site of ``category``."""
        for kind, name in SENSITIVE_SITES:
            if kind is category:
                return self.sites[name]
        raise KeyError(category)

    def busiest_row(self) -> int:
        """The street with the most cameras (a through route that is sure to be seen)."""
        counts = [
            sum((row, column) in self.cameras for column in range(self.columns))
            for row in range(self.rows)
        ]
        return max(range(self.rows), key=lambda row: (counts[row], -row))


def build_grid(city: City, rng: random.Random) -> CityGrid:
    """Place cameras on ``city``'s intersections; the sensitive sites all get one."""
    cells = [
        (row, column) for row in range(len(city.streets)) for column in range(len(city.avenues))
    ]
    count = max(len(SENSITIVE_SITES), len(cells) * CAMERA_COVERAGE_PERCENT // 100)
    chosen = sorted(rng.sample(cells, k=count))
    site_cells = rng.sample(chosen, k=len(SENSITIVE_SITES))
    site_at = {cell: site for cell, site in zip(site_cells, SENSITIVE_SITES, strict=True)}
    cameras: dict[Cell, Camera] = {}
    for number, cell in enumerate(chosen, start=1):
        row, column = cell
        corner = f"{city.avenues[column]} & {city.streets[row]}"
        kind, site_name = site_at.get(cell, (None, ""))
        cameras[cell] = Camera(
            camera_id=f"{city.key}-cam-{number:03d}",
            name=f"{site_name}, {corner}" if site_name else corner,
            position=city.intersection(row, column),
            sensitive_site=kind,
        )
    return CityGrid(city, cameras, {site[1]: cell for cell, site in site_at.items()})


def route(start: Cell, end: Cell) -> Iterator[Cell]:
    """Intersections passed driving from ``start`` to ``end``: along the street, then the avenue."""
    (row, column), (end_row, end_column) = start, end
    step = 1 if end_column >= column else -1
    for c in range(column, end_column + step, step):
        yield (row, c)
    step = 1 if end_row >= row else -1
    for r in range(row + step, end_row + step, step):
        yield (r, end_column)
