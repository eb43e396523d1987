"""License plate serial formats by issuing state, for synthetic vehicles.

A format is a template: ``L`` is a letter, ``9`` a digit, anything else (space, dash) is
printed as is, the way the plate reads. The stored plate is ``alprfed.models.normalize_plate``
of it: upper case with spaces and dashes dropped, so ``ABC-1234`` is stored as ``ABC1234``.
The templates follow the current standard passenger series of each state.
"""

from __future__ import annotations

import random
import re

from alprfed.models import normalize_plate

# I, O and Q are left out: most states do not issue them because they read as 1 and 0.
PLATE_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
PLATE_DIGITS = "0123456789"

PLATE_FORMATS: dict[str, str] = {
    "AZ": "LLL9LL",
    "CA": "9LLL999",
    "CO": "LLL-L99",
    "DC": "LL-9999",
    "FL": "LLL L99",
    "GA": "LLL9999",
    "IA": "LLL 999",
    "ID": "9L 99999",
    "IL": "LL 99999",
    "IN": "999LLL",
    "MA": "9LLL99",
    "MD": "9LL9999",
    "MI": "LLL 9999",
    "MN": "LLL999",
    "MO": "LL9 L9L",
    "NC": "LLL-9999",
    "ND": "999 LLL",
    "NH": "999 9999",
    "NJ": "L99-LLL",
    "NV": "999L99",
    "NY": "LLL-9999",
    "OH": "LLL 9999",
    "OR": "999 LLL",
    "PA": "LLL-9999",
    "SD": "9L 999",
    "TX": "LLL9999",
    "VA": "LLL-9999",
    "WA": "LLL9999",
    "WI": "LLL-9999",
}
DEFAULT_PLATE_FORMAT = "LLL9999"  # the most common US serial shape


def plate_format(state: str) -> str:
    """The serial template of ``state`` (DEFAULT_PLATE_FORMAT for states not listed)."""
    return PLATE_FORMATS.get(state, DEFAULT_PLATE_FORMAT)


def random_plate(state: str, rng: random.Random) -> str:
    """A plate of ``state`` as printed on it (``ABC-1234``); normalize it to store it."""
    return "".join(
        rng.choice(PLATE_LETTERS)
        if slot == "L"
        else rng.choice(PLATE_DIGITS)
        if slot == "9"
        else slot
        for slot in plate_format(state)
    )


def random_stored_plate(state: str, rng: random.Random) -> str:
    """A plate of ``state`` in the normalized form that is stored and searched."""
    return normalize_plate(random_plate(state, rng))


def format_pattern(state: str) -> re.Pattern[str]:
    """A regular expression matching exactly the printed plates of ``state``'s format."""
    classes = {"L": f"[{PLATE_LETTERS}]", "9": "[0-9]"}
    return re.compile("".join(classes.get(slot, re.escape(slot)) for slot in plate_format(state)))
