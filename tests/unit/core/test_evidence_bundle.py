"""The evidence bundle's own shape (alprfed.messages.evidence): what from_canonical refuses
before any of its parts is checked."""

from __future__ import annotations

import pytest

from alprfed import canonical
from alprfed.errors import VerificationError
from alprfed.messages.evidence import LoggedEntry, SearchEvidence


def bundle(**changes: object) -> dict[str, object]:
    evidence = SearchEvidence(
        query_id="q-1",
        checkpoint="origin\n1\nAAAA\n\n",
        decision=LoggedEntry(0, b"{}", ()),
        plate_salt=bytes(32),
    )
    return {**evidence.to_canonical(), **changes}


def test_an_honest_bundle_reads_back() -> None:
    value = canonical.decode(canonical.encode(bundle()))
    assert SearchEvidence.from_canonical(value).query_id == "q-1"


@pytest.mark.parametrize(
    ("version", "message"),
    [
        (True, "v must be an integer"),  # Python's True == 1: a boolean is not the version
        (2, "unsupported evidence version 2"),
        ("1", "v must be an integer"),
    ],
)
def test_only_the_integer_version_1_is_read(version: object, message: str) -> None:
    value = canonical.decode(canonical.encode(bundle(v=version)))
    with pytest.raises(VerificationError, match=message):
        SearchEvidence.from_canonical(value)
