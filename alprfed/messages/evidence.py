"""The evidence a node demands before it answers: why this query was authorized and logged.

The gateway sends it beside the signed query, as a DSSE envelope of its own payload type
(``application/vnd.alprfed.search-evidence+json``, signed by the gateway's query key)::

    {"v": 1, "query_id": "<the query's id>",
     "checkpoint": "<a published checkpoint note, with the witnesses' cosignatures>",
     "decision": {"index": N, "entry": "<base64 entry bytes>", "proof": ["<base64>", ...]},
     "plate_salt": "<64 hex: the salt of the decision entry's plate commitment, slot 0>",
     "warrant": null | {"envelope": <the court-signed warrant, as below>,
                        "index": M, "entry": "<base64>", "proof": [...]},
     "exigent": null | {"index": K, "entry": "<base64>", "proof": [...],
                        "plate_salt": "<64 hex: the salt of the approval's plate commitment>",
                        "consent": <the supervisor-signed consent envelope> | null,
                        "certificate_chain": "<PEM: the supervisor's certificate, its org CA>"}}

Envelopes inside are ``{"payload_type", "payload" (base64), "key_id", "signature" (base64)}``.
Each ``proof`` is the RFC 9162 inclusion proof of its entry in the checkpoint's tree. Nothing
in here is trusted for being here: the node checks every piece against keys it holds itself
(agency_node.evidence_verifier); the gateway's signature only binds the bundle to the query.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.errors import VerificationError
from alprfed.messages.fields import fields, integer, text, texts
from alprfed.signing import Envelope

SEARCH_EVIDENCE_VERSION = 1
MAX_PROOF_HASHES = 64
_SALT = re.compile(r"[0-9a-f]{64}")
_B64_HASH = r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]="  # canonical base64 of 32 bytes
_PROOF_HASHES = re.compile(rf"{_B64_HASH}(?:,{_B64_HASH})*")


@dataclass(frozen=True)
class LoggedEntry:
    """One ledger entry with its inclusion proof in the evidence's checkpoint."""

    index: int
    entry: bytes
    proof: tuple[bytes, ...]

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "index": self.index,
            "entry": _b64(self.entry),
            "proof": [_b64(h) for h in self.proof],
        }

    @classmethod
    def from_canonical(
        cls, value: JSONValue, what: str, extra: frozenset[str] = frozenset()
    ) -> LoggedEntry:
        obj = fields(value, what, {"index", "entry", "proof", *extra})
        proof = texts(obj, "proof")
        if len(proof) > MAX_PROOF_HASHES:
            raise VerificationError(f"{what}: more than {MAX_PROOF_HASHES} proof hashes")
        return cls(
            integer(obj, "index"),
            _unb64(text(obj, "entry"), f"{what}.entry"),
            _proof_hashes(proof, f"{what}.proof"),
        )


def _proof_hashes(proof: list[str], what: str) -> tuple[bytes, ...]:
    """Every proof hash is 32 bytes (RFC 9162), so its one canonical base64 spelling is 44
    characters: 42 free, a 43rd whose two low bits are zero, and one "=". One regex over the
    comma-joined list proves that of all of them (the commas keep each hash to its own 44),
    after which plain decoding cannot differ from canonical.b64decode's. Anything else is
    refused, as a hash of another length would be at the proof check."""
    if not proof or _PROOF_HASHES.fullmatch(",".join(proof)):
        try:  # strict: a comma inside one element (two hashes in one string) is not base64
            return tuple([binascii.a2b_base64(h, strict_mode=True) for h in proof])
        except binascii.Error:
            pass
    raise VerificationError(f"{what} is not a list of canonical base64 32-byte hashes")


@dataclass(frozen=True)
class SearchEvidence:
    query_id: str
    checkpoint: str
    decision: LoggedEntry
    plate_salt: bytes
    warrant: Envelope | None = None
    warrant_entry: LoggedEntry | None = None
    exigent_entry: LoggedEntry | None = None
    exigent_plate_salt: bytes | None = None
    consent: Envelope | None = None
    certificate_chain: bytes = b""

    def to_canonical(self) -> dict[str, JSONValue]:
        warrant = None
        if self.warrant is not None and self.warrant_entry is not None:
            warrant = {
                **self.warrant_entry.to_canonical(),
                "envelope": envelope_record(self.warrant),
            }
        return {
            "v": SEARCH_EVIDENCE_VERSION,
            "query_id": self.query_id,
            "checkpoint": self.checkpoint,
            "decision": self.decision.to_canonical(),
            "plate_salt": self.plate_salt.hex(),
            "warrant": warrant,
            "exigent": None
            if self.exigent_entry is None or self.exigent_plate_salt is None
            else {
                **self.exigent_entry.to_canonical(),
                "plate_salt": self.exigent_plate_salt.hex(),
                # null only from a gateway that has none; every node refuses that
                "consent": None if self.consent is None else envelope_record(self.consent),
                "certificate_chain": self.certificate_chain.decode("ascii"),
            },
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> SearchEvidence:
        """Parse a verified payload. Raises: VerificationError on any shape or value error."""
        obj = fields(
            value,
            "evidence",
            {"v", "query_id", "checkpoint", "decision", "plate_salt", "warrant", "exigent"},
        )
        if integer(obj, "v") != SEARCH_EVIDENCE_VERSION:  # an integer: True == 1 in Python
            raise VerificationError(f"unsupported evidence version {obj['v']!r}")
        warrant = warrant_entry = exigent_entry = exigent_salt = consent = None
        chain = b""
        if obj["warrant"] is not None:
            raw = obj["warrant"]
            warrant_entry = LoggedEntry.from_canonical(raw, "warrant", frozenset({"envelope"}))
            warrant = envelope_from_record(raw["envelope"])
        if obj["exigent"] is not None:
            raw_exigent = obj["exigent"]
            exigent_entry = LoggedEntry.from_canonical(
                raw_exigent, "exigent", frozenset({"plate_salt", "consent", "certificate_chain"})
            )
            exigent_salt = _salt(raw_exigent)
            if raw_exigent["consent"] is not None:
                consent = envelope_from_record(raw_exigent["consent"])
            try:
                chain = text(raw_exigent, "certificate_chain").encode("ascii")
            except UnicodeEncodeError:
                raise VerificationError("certificate_chain must be PEM text") from None
        return cls(
            query_id=text(obj, "query_id"),
            checkpoint=text(obj, "checkpoint"),
            decision=LoggedEntry.from_canonical(obj["decision"], "decision"),
            plate_salt=_salt(obj),
            warrant=warrant,
            warrant_entry=warrant_entry,
            exigent_entry=exigent_entry,
            exigent_plate_salt=exigent_salt,
            consent=consent,
            certificate_chain=chain,
        )


def _salt(obj: Mapping[str, JSONValue]) -> bytes:
    salt = text(obj, "plate_salt")
    if not _SALT.fullmatch(salt):
        raise VerificationError("plate_salt must be 64 lower-case hex digits")
    return bytes.fromhex(salt)


def envelope_record(envelope: Envelope) -> dict[str, JSONValue]:
    return {
        "payload_type": envelope.payload_type,
        "payload": _b64(envelope.payload),
        "key_id": envelope.key_id,
        "signature": _b64(envelope.signature),
    }


def envelope_from_record(value: JSONValue) -> Envelope:
    obj: Mapping[str, JSONValue] = fields(
        value, "envelope", {"payload_type", "payload", "key_id", "signature"}
    )
    return Envelope(
        text(obj, "payload_type"),
        _unb64(text(obj, "payload"), "envelope.payload"),
        text(obj, "key_id"),
        _unb64(text(obj, "signature"), "envelope.signature"),
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(value: str, what: str) -> bytes:
    try:
        return canonical.b64decode(value)
    except canonical.CanonicalError as exc:
        raise VerificationError(f"{what} is {exc}") from None
