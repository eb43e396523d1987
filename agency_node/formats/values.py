"""Field values every import format shares: exact degrees, confidences and instants.

Numbers are parsed as exact decimals, never floats: degrees are rounded half-to-even to the
microdegree (about 11 cm), confidences to the per mille. Each parser raises ``InvalidRequest``
naming the field it was given, so a vendor format can name its own field (``data.created``).
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

from alprfed.errors import InvalidRequest

_DECIMAL = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_MICRO = Decimal("0.000001")
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
MAX_UNIX_SECONDS = 253_402_300_799  # 9999-12-31T23:59:59Z, the last instant ISO 8601 can name
_SECOND = dt.timedelta(seconds=1)


def parse_microdegrees(text: str, *, field: str) -> int:
    """Exact decimal degrees to integer microdegrees, rounded half to even.

    Raises:
        InvalidRequest: not a plain decimal number.
    """
    if not _DECIMAL.fullmatch(text):
        raise InvalidRequest(f"{text!r} is not a decimal number of degrees", field=field)
    try:
        return int((Decimal(text) / _MICRO).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    except InvalidOperation:  # more digits than the decimal context holds: no coordinate
        raise InvalidRequest(f"{text[:20]!r}... is not a number of degrees", field=field) from None


def parse_confidence(text: str, *, field: str = "confidence", scale: int = 1) -> int:
    """A decimal from 0 to ``scale`` (1 for a fraction, 100 for a percentage) to per mille.

    Raises:
        InvalidRequest: not a decimal number from 0 to ``scale``.
    """
    if not _DECIMAL.fullmatch(text) or not Decimal(0) <= Decimal(text) <= Decimal(scale):
        what = "a decimal fraction from 0 to 1" if scale == 1 else f"a number from 0 to {scale}"
        raise InvalidRequest(f"{text!r} is not {what}", field=field)
    per_mille = Decimal(text) * 1000 / scale
    return int(per_mille.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def parse_observed_at(text: str, *, field: str = "observed_at") -> int:
    """ISO 8601 with a UTC offset (or Z), or whole Unix seconds, to Unix seconds.

    Fractions of a second are dropped.

    Raises:
        InvalidRequest: neither form, or an ISO time without an offset (its zone is unknown).
    """
    if text.isascii() and text.isdigit():
        return checked_unix_seconds(int(text) if len(text) <= 20 else MAX_UNIX_SECONDS + 1, field)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRequest(
            f"{text!r} is neither ISO 8601 (2025-06-01T15:15:00Z) nor Unix seconds", field=field
        ) from None
    if parsed.tzinfo is None:
        raise InvalidRequest(
            f"{text!r} has no UTC offset; add Z or +hh:mm so the instant is unambiguous",
            field=field,
        )
    return instant_seconds(parsed, field=field)


def instant_seconds(when: dt.datetime, *, field: str) -> int:
    """An aware datetime as Unix seconds. Raises: InvalidRequest past the year 9999 in UTC."""
    seconds = (when - _EPOCH) // _SECOND
    if seconds > MAX_UNIX_SECONDS:  # 9999-12-31 late in the day, west of UTC
        raise InvalidRequest(f"{when.isoformat()} is after the year 9999 in UTC", field=field)
    return seconds


def checked_unix_seconds(seconds: int, field: str) -> int:
    """Raises: InvalidRequest when ``seconds`` is negative or after the year 9999."""
    if seconds > MAX_UNIX_SECONDS:
        raise InvalidRequest(f"{seconds} Unix seconds is after the year 9999", field=field)
    if seconds < 0:
        raise InvalidRequest(f"{seconds} Unix seconds is before 1970", field=field)
    return seconds
