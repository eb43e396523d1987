"""A policy document as ledger entries: one body, or parts each small enough for an entry."""

from __future__ import annotations

import hashlib

import pytest

from alprfed import canonical
from alprfed.errors import ConfigError
from alprfed.ledger.entry import MAX_BODY_BYTES
from alprfed.policy.bundle import (
    FEDERATION_DOCUMENT,
    PolicyBundle,
    document_bodies,
    federation_to_canonical,
    joined_document,
)
from bench.decision import federation


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


def test_a_bundle_is_rebuilt_only_from_texts_with_its_hashes_the_federation_among_them() -> None:
    bundle = PolicyBundle({"states/NM.toml": 'state = "NM"\n'}, {"name": "f"})
    published = bundle.to_canonical()
    assert published == {
        "v": 3,
        "documents": {
            "states/NM.toml": hashlib.sha256(b'state = "NM"\n').hexdigest(),
            FEDERATION_DOCUMENT: hashlib.sha256(b'{"name":"f"}').hexdigest(),
        },
    }
    texts = bundle.published_texts()
    assert texts[FEDERATION_DOCUMENT] == '{"name":"f"}'
    rebuilt = PolicyBundle.from_canonical(published, texts)
    assert (rebuilt.digest, rebuilt.federation) == (bundle.digest, {"name": "f"})
    assert FEDERATION_DOCUMENT not in rebuilt.documents  # not written out as a policy file
    with pytest.raises(ConfigError, match=r"states/NM.toml .* was not published"):
        PolicyBundle.from_canonical(published, {**texts, "states/NM.toml": 'state = "TX"\n'})
    with pytest.raises(ConfigError, match=rf"{FEDERATION_DOCUMENT} .* was not published"):
        PolicyBundle.from_canonical(published, {**texts, FEDERATION_DOCUMENT: '{"name":"g"}'})
    with pytest.raises(ConfigError, match="was not published"):
        PolicyBundle.from_canonical(published, {})


def test_a_national_federation_is_published_in_parts_that_each_fit_an_entry() -> None:
    """1,024 agencies: about 250 KB of federation, which no single entry could carry."""
    national = federation(1_024)  # the decision benchmark's: 1,024 nodes over 20 states
    bundle = PolicyBundle({"model.conf": "[m]\n"}, federation_to_canonical(national))
    assert len(canonical.encode(bundle.to_canonical())) < 1_000  # the entry names hashes only
    text = bundle.published_texts()[FEDERATION_DOCUMENT]
    bodies = document_bodies(FEDERATION_DOCUMENT, text)
    assert len(bodies) > 1
    assert all(len(canonical.encode(b)) <= MAX_BODY_BYTES for b in bodies)
    joined = joined_document(FEDERATION_DOCUMENT, bodies)
    assert joined == text
    logged = PolicyBundle.logged_federation(bundle.to_canonical(), {FEDERATION_DOCUMENT: text})
    assert logged.agencies == national.agencies
    assert joined_document(FEDERATION_DOCUMENT, [*bodies[:-1], None]) is None  # a part missing
    with pytest.raises(ConfigError, match="federation was not published"):
        PolicyBundle.logged_federation(bundle.to_canonical(), {FEDERATION_DOCUMENT: text[:-1]})


def test_a_version_2_bundle_still_reads_with_its_federation_inline() -> None:
    hashed = {"states/NM.toml": hashlib.sha256(b'state = "NM"\n').hexdigest()}
    inline = {"v": 2, "documents": hashed, "federation": {"name": "f"}}
    bundle = PolicyBundle.from_canonical(inline, {"states/NM.toml": 'state = "NM"\n'})
    assert (bundle.version, bundle.federation) == (2, {"name": "f"})
    assert bundle.digest == hashlib.sha256(canonical.encode(inline)).hexdigest()


def test_a_version_1_bundle_still_reads_with_its_texts_inline() -> None:
    inline = {"v": 1, "documents": {"model.conf": "[m]\n"}, "federation": {"name": "f"}}
    bundle = PolicyBundle.from_canonical(inline)
    assert bundle.documents == {"model.conf": "[m]\n"}
    assert bundle.digest == hashlib.sha256(canonical.encode(inline)).hexdigest()
