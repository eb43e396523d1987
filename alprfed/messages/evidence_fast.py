"""The node's fast proof that a query's evidence bundle is canonical and of the exact shape.

Step 1 of every evidence check (agency_node.evidence_verifier) reads the bundle, about 3 KB of
canonical JSON. The exact path, ``SearchEvidence.from_canonical(canonical.decode(bundle))``,
parses it with orjson, walks the value in Python to refuse floats, unsafe integers and deep
nesting, re-encodes and compares, then checks every field's type and shape in Python.

Here msgspec decodes the bytes straight into structs of exactly the bundle's fields (all
required, no others, each typed: strings, integers within ``±MAX_SAFE_INTEGER``, the version
1), so no float, no unsafe integer, no extra or missing field and no nesting beyond the
format's own can be in what it returns. That value is re-encoded by the one canonical encoder's
writer (orjson, sorted keys, strict integers) and compared with the bytes: equal means the
bytes *are* that encoder's output, which is all ``canonical.decode`` proves. The parts are then
built by the constructors the exact path uses (``LoggedEntry.of``, ``envelope_of``,
``plate_salt_of``, ``certificate_chain_of``), so the base64, proof-hash and salt rules have one
home.

``decode_search_evidence`` only ever takes the fast path to accept: on anything it cannot prove
(a msgspec error, a difference after re-encoding, a part's constructor refusing) it runs the
exact path, which accepts or names the fault with the messages it always has.
tests/unit/core/test_evidence_fast.py holds the two to each other over real and mutated
bundles.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
import orjson

from alprfed import canonical
from alprfed.canonical import MAX_SAFE_INTEGER
from alprfed.errors import VerificationError
from alprfed.messages.evidence import (
    LoggedEntry,
    SearchEvidence,
    certificate_chain_of,
    envelope_of,
    plate_salt_of,
)
from alprfed.signing import Envelope

_INTEGER = Annotated[int, msgspec.Meta(ge=-MAX_SAFE_INTEGER, le=MAX_SAFE_INTEGER)]


# Fields in canonical (sorted) order, all required, no others: the bundle of
# alprfed.messages.evidence, field for field.
class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    key_id: str
    payload: str
    payload_type: str
    signature: str


class _Logged(msgspec.Struct, forbid_unknown_fields=True):
    entry: str
    index: _INTEGER
    proof: list[str]


class _Warrant(msgspec.Struct, forbid_unknown_fields=True):
    entry: str
    envelope: _Envelope
    index: _INTEGER
    proof: list[str]


class _Exigent(msgspec.Struct, forbid_unknown_fields=True):
    certificate_chain: str
    consent: _Envelope | None
    entry: str
    index: _INTEGER
    plate_salt: str
    proof: list[str]


class _Bundle(msgspec.Struct, forbid_unknown_fields=True):
    checkpoint: str
    decision: _Logged
    exigent: _Exigent | None
    plate_salt: str
    query_id: str
    v: Literal[1]
    warrant: _Warrant | None


_DECODER = msgspec.json.Decoder(_Bundle)
# STRICT_INTEGER: orjson refuses integers beyond +-(2**53 - 1), canonical._check's bound.
_CANONICAL_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


def decode_search_evidence(data: bytes) -> SearchEvidence:
    """The evidence bundle ``data`` holds, refused unless canonical and of the exact shape.

    Raises:
        VerificationError, CanonicalError: as ``SearchEvidence.from_canonical(canonical
            .decode(data))`` raises them, which decides everything the fast proof cannot.
    """
    evidence = _proved(data)
    if evidence is None:
        return SearchEvidence.from_canonical(canonical.decode(data))
    return evidence


def _proved(data: bytes) -> SearchEvidence | None:
    # canonical.encode departs from orjson's own output only in the order of keys holding a
    # character beyond U+FFFF; every key here is one of the structs' ASCII field names.
    try:
        bundle = _DECODER.decode(data)
        again = orjson.dumps(msgspec.to_builtins(bundle), option=_CANONICAL_OPTIONS)
    except (msgspec.DecodeError, orjson.JSONEncodeError):
        return None
    if again != data:
        return None
    try:
        return _evidence(bundle)
    except VerificationError:
        return None  # the exact path names the fault


def _evidence(bundle: _Bundle) -> SearchEvidence:
    warrant = warrant_entry = exigent_entry = exigent_salt = consent = None
    chain = b""
    if bundle.warrant is not None:
        raw = bundle.warrant
        warrant_entry = LoggedEntry.of(raw.index, raw.entry, raw.proof, "warrant")
        warrant = _envelope(raw.envelope)
    if bundle.exigent is not None:
        exigent = bundle.exigent
        exigent_entry = LoggedEntry.of(exigent.index, exigent.entry, exigent.proof, "exigent")
        exigent_salt = plate_salt_of(exigent.plate_salt)
        if exigent.consent is not None:
            consent = _envelope(exigent.consent)
        chain = certificate_chain_of(exigent.certificate_chain)
    decision = bundle.decision
    return SearchEvidence(
        query_id=bundle.query_id,
        checkpoint=bundle.checkpoint,
        decision=LoggedEntry.of(decision.index, decision.entry, decision.proof, "decision"),
        plate_salt=plate_salt_of(bundle.plate_salt),
        warrant=warrant,
        warrant_entry=warrant_entry,
        exigent_entry=exigent_entry,
        exigent_plate_salt=exigent_salt,
        consent=consent,
        certificate_chain=chain,
    )


def _envelope(record: _Envelope) -> Envelope:
    return envelope_of(record.payload_type, record.payload, record.key_id, record.signature)
