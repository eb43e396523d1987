"""Reading a vendor's JSON safely: each accessor names the field at fault by its full path.

JSON is decoded with ``parse_float=Decimal`` (``load_json``) so a confidence of 0.9630414285714286
or a GPS latitude arrives exactly as the vendor wrote it, never rounded through a float.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from agency_node.formats.values import parse_confidence, parse_microdegrees
from alprfed.errors import InvalidRequest
from alprfed.models import US_STATES, Position

JsonObject = Mapping[str, Any]
# One decoder for every record: json.loads(parse_float=...) builds a new one per call, which
# showed in the JSON Lines import profile.
_DECODER = json.JSONDecoder(parse_float=Decimal)


def load_json(text: str | bytes, *, what: str) -> Any:
    """Decode JSON exactly (decimals stay decimals). Raises: InvalidRequest naming ``what``."""
    try:
        return _DECODER.decode(text.decode("utf-8-sig") if isinstance(text, bytes) else text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors
        raise InvalidRequest(f"not valid JSON ({exc})", field=what) from None


def obj(value: object, path: str) -> JsonObject:
    """Raises: InvalidRequest when ``value`` is not a JSON object."""
    if not isinstance(value, Mapping):
        raise InvalidRequest("must be a JSON object", field=path)
    return value


def member(parent: JsonObject, path: str, name: str) -> Any:
    """``parent[name]``; raises InvalidRequest naming ``path.name`` when it is missing or null."""
    value = parent.get(name)
    if value is None:
        raise InvalidRequest("is missing", field=join(path, name))
    return value


def text(parent: JsonObject, path: str, name: str, *, required: bool = True) -> str:
    """A string member ("" when optional and absent). Raises: InvalidRequest."""
    value = parent.get(name)
    if value is None and not required:
        return ""
    value = member(parent, path, name)
    if not isinstance(value, str):
        raise InvalidRequest("must be a string", field=join(path, name))
    return value.strip()


def identifier(parent: JsonObject, path: str, name: str) -> str:
    """A camera id sent as a string or, by Rekor agents, as a whole number."""
    value = member(parent, path, name)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidRequest("must be a string or a whole number", field=join(path, name))
    return str(value).strip()


def whole_number(parent: JsonObject, path: str, name: str) -> int:
    value = member(parent, path, name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest("must be a whole number", field=join(path, name))
    return value


def array(parent: JsonObject, path: str, name: str, *, required: bool = True) -> list[Any]:
    value = parent.get(name)
    if value is None and not required:
        return []
    value = member(parent, path, name)
    if not isinstance(value, list):
        raise InvalidRequest("must be a JSON array", field=join(path, name))
    return value


def confidence(parent: JsonObject, path: str, name: str, *, scale: int = 1) -> int:
    """A JSON number from 0 to ``scale`` as per mille. Raises: InvalidRequest."""
    value = member(parent, path, name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise InvalidRequest("must be a number", field=join(path, name))
    return parse_confidence(str(value), field=join(path, name), scale=scale)


def position(parent: JsonObject, path: str, lat: str, lon: str) -> Position | None:
    """A GPS fix, or None when the payload has none (both absent, or both 0: no fix)."""
    if parent.get(lat) is None and parent.get(lon) is None:
        return None
    degrees = []
    for name in (lat, lon):
        value = member(parent, path, name)
        if isinstance(value, bool) or not isinstance(value, int | Decimal):
            raise InvalidRequest("must be a number of degrees", field=join(path, name))
        degrees.append(parse_microdegrees(str(value), field=join(path, name)))
    if degrees == [0, 0]:  # Null Island: agents report 0, 0 until the GPS has a fix
        return None
    return Position(degrees[0], degrees[1])


def us_region(code: str, *, field: str) -> str:
    """A vendor region code (``us-ca``, ``US-CA``, ``ca``) as a USPS state code (``CA``).

    Raises:
        InvalidRequest: empty or not a US state: the plate's issuing state is required.
    """
    lowered = code.strip().lower()
    state = lowered.removeprefix("us-").upper()
    if state not in US_STATES:
        shown = repr(code) if code else "empty"
        raise InvalidRequest(
            f"{shown} is not a US state region (like us-ca); the plate's issuing state is required",
            field=field,
        )
    return state


def first_choice(parent: JsonObject, path: str, name: str, key: str) -> str:
    """The first (most likely) entry's ``key`` of a ranked list such as ``color`` or
    ``model_make``; "" when the list is absent or empty."""
    ranked = array(parent, path, name, required=False)
    if not ranked:
        return ""
    best = obj(ranked[0], f"{join(path, name)}[0]")
    return text(best, f"{join(path, name)}[0]", key, required=False)


def join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
