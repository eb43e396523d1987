"""Cities for synthetic data: a street grid around a real downtown, per agency state.

Presets name real streets of San Jose, Chicago, Norfolk, Seattle and Minneapolis; any other
state falls back to its capital with generic street names. Positions are integer microdegrees
like everywhere in alprfed; the grid spacing is about 500 m in both directions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from alprfed.errors import InvalidRequest
from alprfed.models import Position

BLOCK_LAT_E6 = 4_500  # about 500 m north-south
GENERIC_AVENUES = ("1st St", "2nd St", "3rd St", "4th St", "5th St", "6th St", "7th St", "8th St")
GENERIC_STREETS = (
    "Main St", "Oak St", "Maple Ave", "Washington Ave", "Park Ave", "Elm St", "Lincoln Ave",
    "Jefferson St",
)  # fmt: skip
# Out-of-state plates seen anywhere come mostly from the most populous states.
NATIONAL_VISITORS = ("CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI")


@dataclass(frozen=True)
class City:
    key: str
    name: str
    state: str
    center: Position
    utc_offset_hours: int  # standard time; synthetic data ignores daylight saving
    avenues: tuple[str, ...]  # streets running north-south: the grid's columns
    streets: tuple[str, ...]  # streets running east-west: the grid's rows
    visitor_states: tuple[str, ...]  # where out-of-state plates come from, likeliest first

    @property
    def block_lon_e6(self) -> int:
        """Longitude step of about 500 m at this latitude."""
        return round(BLOCK_LAT_E6 / math.cos(math.radians(self.center.latitude_e6 / 1e6)))

    def intersection(self, row: int, column: int) -> Position:
        """Where street ``row`` crosses avenue ``column``; the grid is centred downtown."""
        return Position(
            self.center.latitude_e6 + (row - len(self.streets) // 2) * BLOCK_LAT_E6,
            self.center.longitude_e6 + (column - len(self.avenues) // 2) * self.block_lon_e6,
        )


PRESETS: dict[str, City] = {
    city.key: city
    for city in (
        City(
            "san-jose", "San Jose", "CA", Position(37_338_200, -121_886_300), -8,
            ("Almaden Blvd", "Market St", "1st St", "2nd St", "4th St", "7th St", "10th St",
             "King Rd"),
            ("Julian St", "St John St", "Santa Clara St", "San Fernando St", "San Carlos St",
             "William St", "Reed St", "Alum Rock Ave"),
            ("NV", "OR", "AZ", "WA", "TX"),
        ),
        City(
            "chicago", "Chicago", "IL", Position(41_878_100, -87_629_800), -6,
            ("Western Ave", "Ashland Ave", "Halsted St", "Wells St", "LaSalle St", "Clark St",
             "State St", "Michigan Ave"),
            ("Lake St", "Randolph St", "Washington St", "Madison St", "Adams St",
             "Jackson Blvd", "Van Buren St", "Roosevelt Rd"),
            ("IN", "WI", "MI", "IA", "MO"),
        ),
        City(
            "norfolk", "Norfolk", "VA", Position(36_850_800, -76_285_900), -5,
            ("Hampton Blvd", "Colley Ave", "Boush St", "Granby St", "Monticello Ave",
             "Church St", "Tidewater Dr"),
            ("21st St", "Princess Anne Rd", "Olney Rd", "Brambleton Ave", "City Hall Ave",
             "Main St", "Virginia Beach Blvd"),
            ("NC", "MD", "DC", "PA", "WV"),
        ),
        City(
            "seattle", "Seattle", "WA", Position(47_606_200, -122_332_100), -8,
            ("1st Ave", "2nd Ave", "3rd Ave", "4th Ave", "5th Ave", "6th Ave", "Westlake Ave",
             "Boren Ave"),
            ("Denny Way", "Pine St", "Pike St", "Union St", "University St", "Seneca St",
             "Spring St", "Madison St"),
            ("OR", "ID", "CA", "MT"),
        ),
        City(
            "minneapolis", "Minneapolis", "MN", Position(44_977_800, -93_265_000), -6,
            ("Lyndale Ave", "Hennepin Ave", "Nicollet Mall", "Marquette Ave", "2nd Ave S",
             "Park Ave", "Portland Ave", "Chicago Ave"),
            ("Broadway", "Washington Ave", "4th St", "6th St", "8th St", "10th St",
             "Franklin Ave", "Lake St"),
            ("WI", "IA", "ND", "SD"),
        ),
    )
}  # fmt: skip

PRESET_BY_STATE = {city.state: city for city in PRESETS.values()}

# Fallback: each state's capital, (name, latitude e6, longitude e6, UTC offset in hours).
CAPITALS: dict[str, tuple[str, int, int, int]] = {
    "AL": ("Montgomery", 32_377_700, -86_300_000, -6),
    "AK": ("Juneau", 58_301_900, -134_419_700, -9),
    "AZ": ("Phoenix", 33_448_400, -112_074_000, -7),
    "AR": ("Little Rock", 34_746_500, -92_289_600, -6),
    "CA": ("Sacramento", 38_581_600, -121_494_400, -8),
    "CO": ("Denver", 39_739_200, -104_990_300, -7),
    "CT": ("Hartford", 41_765_800, -72_673_400, -5),
    "DE": ("Dover", 39_158_200, -75_524_400, -5),
    "DC": ("Washington", 38_907_200, -77_036_900, -5),
    "FL": ("Tallahassee", 30_438_300, -84_280_700, -5),
    "GA": ("Atlanta", 33_749_000, -84_388_000, -5),
    "HI": ("Honolulu", 21_306_900, -157_858_300, -10),
    "ID": ("Boise", 43_615_000, -116_202_300, -7),
    "IL": ("Springfield", 39_781_700, -89_650_100, -6),
    "IN": ("Indianapolis", 39_768_400, -86_158_100, -5),
    "IA": ("Des Moines", 41_586_800, -93_625_000, -6),
    "KS": ("Topeka", 39_047_300, -95_675_200, -6),
    "KY": ("Frankfort", 38_200_900, -84_873_300, -5),
    "LA": ("Baton Rouge", 30_451_500, -91_187_100, -6),
    "ME": ("Augusta", 44_310_600, -69_779_500, -5),
    "MD": ("Annapolis", 38_978_400, -76_492_200, -5),
    "MA": ("Boston", 42_360_100, -71_058_900, -5),
    "MI": ("Lansing", 42_732_500, -84_555_500, -5),
    "MN": ("Saint Paul", 44_953_700, -93_090_000, -6),
    "MS": ("Jackson", 32_298_800, -90_184_800, -6),
    "MO": ("Jefferson City", 38_576_700, -92_173_500, -6),
    "MT": ("Helena", 46_589_100, -112_039_100, -7),
    "NE": ("Lincoln", 40_813_600, -96_702_600, -6),
    "NV": ("Carson City", 39_163_800, -119_767_400, -8),
    "NH": ("Concord", 43_208_100, -71_537_600, -5),
    "NJ": ("Trenton", 40_220_600, -74_759_700, -5),
    "NM": ("Santa Fe", 35_687_000, -105_937_800, -7),
    "NY": ("Albany", 42_652_600, -73_756_200, -5),
    "NC": ("Raleigh", 35_779_600, -78_638_200, -5),
    "ND": ("Bismarck", 46_808_300, -100_783_700, -6),
    "OH": ("Columbus", 39_961_200, -82_998_800, -5),
    "OK": ("Oklahoma City", 35_467_600, -97_516_400, -6),
    "OR": ("Salem", 44_942_900, -123_035_100, -8),
    "PA": ("Harrisburg", 40_273_200, -76_886_700, -5),
    "RI": ("Providence", 41_824_000, -71_412_800, -5),
    "SC": ("Columbia", 34_000_700, -81_034_800, -5),
    "SD": ("Pierre", 44_368_300, -100_351_000, -6),
    "TN": ("Nashville", 36_162_700, -86_781_600, -6),
    "TX": ("Austin", 30_267_200, -97_743_100, -6),
    "UT": ("Salt Lake City", 40_760_800, -111_891_000, -7),
    "VT": ("Montpelier", 44_260_100, -72_575_400, -5),
    "VA": ("Richmond", 37_540_700, -77_436_000, -5),
    "WA": ("Olympia", 47_037_900, -122_900_700, -8),
    "WV": ("Charleston", 38_349_800, -81_632_600, -5),
    "WI": ("Madison", 43_073_100, -89_401_200, -6),
    "WY": ("Cheyenne", 41_140_000, -104_820_200, -7),
    "PR": ("San Juan", 18_465_500, -66_105_700, -4),
    "GU": ("Hagatna", 13_475_700, 144_748_900, 10),
    "VI": ("Charlotte Amalie", 18_341_900, -64_930_700, -4),
    "AS": ("Pago Pago", -14_275_600, -170_702_000, -11),
    "MP": ("Saipan", 15_177_800, 145_750_900, 10),
}


def city_for(state: str, preset: str | None = None) -> City:
    """The city a node of ``state`` is placed in: a named preset, the state's preset, or the
    state's capital.

    Raises:
        InvalidRequest: ``preset`` is not a known preset, or ``state`` is not a US state code.
    """
    if preset is not None:
        if preset not in PRESETS:
            raise InvalidRequest(
                f"no city preset {preset!r}; choose one of {', '.join(sorted(PRESETS))}",
                field="city",
            )
        return PRESETS[preset]
    if state in PRESET_BY_STATE:
        return PRESET_BY_STATE[state]
    if state not in CAPITALS:
        raise InvalidRequest(f"{state!r} is not a US state or territory code", field="state")
    name, lat_e6, lon_e6, offset = CAPITALS[state]
    visitors = tuple(s for s in NATIONAL_VISITORS if s != state)
    return City(
        name.lower().replace(" ", "-"), name, state, Position(lat_e6, lon_e6), offset,
        GENERIC_AVENUES, GENERIC_STREETS, visitors,
    )  # fmt: skip
