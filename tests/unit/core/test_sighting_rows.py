"""The node answers from its search rows: the receipt digest and the response protobufs it makes
from rows must be byte for byte what the canonical encoder and ``sighting_to_pb`` make from the
``Sighting`` the gateway rebuilds, or every honest receipt would fail at the gateway."""

from __future__ import annotations

import hashlib
import random

import pytest

from agency_node.storage.statements import FIND_SIGHTINGS
from alprfed import canonical, wire
from alprfed.messages import results_digest, results_digest_of_rows
from alprfed.models import (
    MAX_CONFIDENCE,
    ROW_OBSERVED_AT,
    ROW_SENSITIVE_SITE,
    SIGHTING_ROW,
    SensitiveSite,
    Sighting,
    SightingRow,
)
from alprfed.v1 import node_pb2

# Text that canonical JSON must escape or order with care: quotes, backslashes, controls,
# U+2028, non-ASCII, a character above U+FFFF (a surrogate pair in UTF-16), and nothing at all.
AWKWARD_TEXT = (
    "",
    'say "cheese"',
    "back\\slash",
    "tab\tnew\nline\x00nul\x1f",
    "\u2028\u2029",
    "Citroën Façade",
    "ünïcödé 雪 \U0001f697 car",
    "\U0010ffff",
    "x" * 64,
)
MAX_SAFE = 2**53 - 1


def random_row(rng: random.Random) -> SightingRow:
    def text() -> str:
        return rng.choice(AWKWARD_TEXT) if rng.random() < 0.5 else rng.choice(["Toyota", "blue"])

    return (
        rng.choice([1, rng.randrange(1, MAX_SAFE), MAX_SAFE]),
        rng.choice(["7ABC123", "A", "ZZZZZZZZZZ", "0"]),
        rng.choice(["CA", "NY", "DC"]),
        rng.choice([1, rng.randrange(1, 2**40), 2**31 - 1, 2**31, 2**40]),
        rng.choice(["cam-1", "c", "cam.x_y-z" * 7]),
        rng.choice([-90_000_000, 0, 90_000_000, rng.randrange(-90_000_000, 90_000_000)]),
        rng.choice([-180_000_000, 0, 180_000_000, rng.randrange(-180_000_000, 180_000_000)]),
        text(),
        text(),
        text(),
        rng.choice([0, 1, MAX_CONFIDENCE, rng.randrange(MAX_CONFIDENCE)]),
        rng.choice(["", "https://evidence.example/\U0001f4f7.jpg", "s3://b/" + "k" * 400]),
        rng.choice([None, *[site.value for site in SensitiveSite]]),
    )


@pytest.mark.parametrize("seed", range(40))
def test_the_digest_from_rows_is_the_canonical_encoders_digest_of_the_sightings(
    seed: int,
) -> None:
    rng = random.Random(seed)
    rows = [random_row(rng) for _ in range(rng.choice([0, 1, 2, 33, 200]))]
    sightings = [Sighting.from_row(row) for row in rows]

    # What the gateway computes from the sightings it rebuilt, spelled out from the encoder.
    expected = hashlib.sha256(canonical.encode([s.to_canonical() for s in sightings])).hexdigest()

    assert results_digest_of_rows(rows) == expected
    assert results_digest(sightings) == expected


@pytest.mark.parametrize("seed", range(20))
def test_the_response_from_rows_is_the_response_from_sightings(seed: int) -> None:
    rng = random.Random(1000 + seed)
    rows = [random_row(rng) for _ in range(rng.choice([0, 1, 33]))]
    from_sightings = node_pb2.SearchResponse(
        sightings=[wire.sighting_to_pb(Sighting.from_row(row)) for row in rows]
    )

    from_rows = node_pb2.SearchResponse()
    wire.add_sighting_rows(from_rows.sightings, rows)

    assert from_rows.SerializeToString(deterministic=True) == from_sightings.SerializeToString(
        deterministic=True
    )
    # And what the gateway reads back hashes to the node's digest.
    returned = [wire.result_from_pb(pb) for pb in from_rows.sightings]
    assert results_digest(returned) == results_digest_of_rows(rows)


def test_a_row_round_trips_through_a_sighting() -> None:
    row = random_row(random.Random(7))
    assert Sighting.from_row(row).to_row() == row


def test_the_search_statement_selects_the_row_columns_in_order() -> None:
    selected = [column.name for column in FIND_SIGHTINGS.selected_columns]
    assert selected == list(SIGHTING_ROW)
    assert SIGHTING_ROW[ROW_OBSERVED_AT] == "observed_at"
    assert SIGHTING_ROW[ROW_SENSITIVE_SITE] == "sensitive_site"


def test_a_row_with_an_unknown_site_category_is_no_sighting() -> None:
    row = (*random_row(random.Random(3))[:ROW_SENSITIVE_SITE], "casino")
    with pytest.raises(ValueError):
        Sighting.from_row(row)
