"""A policy document as ledger entries: one body, or parts each small enough for an entry."""

from __future__ import annotations

import hashlib

import pytest

from alprfed import canonical
from alprfed.errors import ConfigError
from alprfed.ledger.entry import MAX_BODY_BYTES
from alprfed.policy.bundle import PolicyBundle, document_bodies


@pytest.mark.parametrize(
    "text",
    [
        pytest.param('state = "NM"\n', id="a_pack"),
        pytest.param("g, agency/officer-%d, officer, agency\n" * 4_000, id="large_casbin_policy"),
        # Control characters take 6 bytes each as JSON escapes: parts must shrink to fit.
        pytest.param("\x07" * 40_000, id="escapes_that_grow_sixfold"),
        pytest.param("é€😀" * 30_000, id="non_ascii"),
    ],
)
def test_parts_fit_in_an_entry_and_join_to_the_text(text: str) -> None:
    bodies = document_bodies("policy.csv", text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert "".join(str(b["text"]) for b in bodies) == text
    for number, body in enumerate(bodies):
        assert len(canonical.encode(body)) <= MAX_BODY_BYTES
        assert (body["path"], body["sha256"], body["part"], body["parts"]) == (
            "policy.csv",
            digest,
            number,
            len(bodies),
        )
    assert (len(bodies) == 1) is (len(text) < 1_000)


def test_a_version_2_bundle_is_rebuilt_only_from_texts_with_its_hashes() -> None:
    bundle = PolicyBundle({"states/NM.toml": 'state = "NM"\n'}, {"name": "f"})
    published = bundle.to_canonical()
    assert published["documents"] == {
        "states/NM.toml": hashlib.sha256(b'state = "NM"\n').hexdigest()
    }
    assert PolicyBundle.from_canonical(published, dict(bundle.documents)).digest == bundle.digest
    with pytest.raises(ConfigError, match=r"states/NM.toml .* was not published"):
        PolicyBundle.from_canonical(published, {"states/NM.toml": 'state = "TX"\n'})
    with pytest.raises(ConfigError, match="was not published"):
        PolicyBundle.from_canonical(published, {})


def test_a_version_1_bundle_still_reads_with_its_texts_inline() -> None:
    inline = {"v": 1, "documents": {"model.conf": "[m]\n"}, "federation": {"name": "f"}}
    bundle = PolicyBundle.from_canonical(inline)
    assert bundle.documents == {"model.conf": "[m]\n"}
    assert bundle.digest == hashlib.sha256(canonical.encode(inline)).hexdigest()
