"""The signed search protocol between the gateway and agency nodes.

The gateway signs one ``SearchQuery`` per federated query, addressed to exactly the nodes the
gates permitted. Each node answers with its sightings and a ``SearchReceipt`` signed by the node
key that binds the query id, the result count and the SHA-256 of the canonical results, so the
gateway (and later an auditor) can tell that what arrived is what the node sent.

Both messages are canonical JSON objects inside DSSE envelopes (alprfed.signing); their exact
shape is documented in docs/PROTOCOL.md and fixed by ``to_canonical``/``from_canonical`` here.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.errors import VerificationError
from alprfed.messages.fields import fields, integer, integers, text, texts
from alprfed.models import (
    AgencyKind,
    Purpose,
    Sighting,
    SightingRow,
    TimeWindow,
    canonical_sighting,
    check_identifier,
    check_state,
    normalize_plate,
)
from alprfed.signing import SEARCH_RECEIPT_TYPE, Envelope, VerifyingKey, keyring, open_envelope

SEARCH_QUERY_VERSION = 1
SEARCH_RECEIPT_VERSION = 1


@dataclass(frozen=True)
class Requester:
    """Who asks, as the gateway established from the officer's verified certificate."""

    agency_id: str
    officer_id: str
    state: str
    kind: AgencyKind
    # Data-holder states for which the requesting agency has a written declaration on file.
    declarations_on_file: tuple[str, ...] = ()

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "agency": self.agency_id,
            "officer": self.officer_id,
            "state": self.state,
            "kind": self.kind.value,
            "declarations": sorted(self.declarations_on_file),
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> Requester:
        obj = fields(value, "requester", {"agency", "officer", "state", "kind", "declarations"})
        return cls(
            agency_id=check_identifier(text(obj, "agency"), field_name="requester.agency"),
            officer_id=check_identifier(text(obj, "officer"), field_name="requester.officer"),
            state=check_state(text(obj, "state")),
            kind=AgencyKind(text(obj, "kind")),
            declarations_on_file=tuple(check_state(s) for s in texts(obj, "declarations")),
        )


@dataclass(frozen=True)
class SearchQuery:
    query_id: str
    addressees: tuple[str, ...]
    issued_at: int
    expires_at: int
    nonce: str
    plate: str
    window: TimeWindow
    purpose: Purpose
    case_number: str
    requester: Requester
    warrant_id: str | None
    exigent: bool

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "v": SEARCH_QUERY_VERSION,
            "query_id": self.query_id,
            "addressees": sorted(self.addressees),
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "nonce": self.nonce,
            "plate": self.plate,
            "window": self.window.to_canonical(),
            "purpose": self.purpose.value,
            "case_number": self.case_number,
            "requester": self.requester.to_canonical(),
            "warrant_id": self.warrant_id,
            "exigent": self.exigent,
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> SearchQuery:
        """Parse a verified payload. Raises: VerificationError on any shape or value error."""
        try:
            obj = fields(
                value,
                "query",
                {
                    "v",
                    "query_id",
                    "addressees",
                    "issued_at",
                    "expires_at",
                    "nonce",
                    "plate",
                    "window",
                    "purpose",
                    "case_number",
                    "requester",
                    "warrant_id",
                    "exigent",
                },
            )
            if obj["v"] != SEARCH_QUERY_VERSION:
                raise VerificationError(f"unsupported query version {obj['v']!r}")
            window = integers(obj, "window")
            if len(window) != 2:
                raise VerificationError("window must be [start, end]")
            warrant = obj["warrant_id"]
            if warrant is not None and not isinstance(warrant, str):
                raise VerificationError("warrant_id must be a string or null")
            exigent = obj["exigent"]
            if not isinstance(exigent, bool):
                raise VerificationError("exigent must be a boolean")
            return cls(
                query_id=text(obj, "query_id"),
                addressees=tuple(texts(obj, "addressees")),
                issued_at=integer(obj, "issued_at"),
                expires_at=integer(obj, "expires_at"),
                nonce=text(obj, "nonce"),
                plate=normalize_plate(text(obj, "plate")),
                window=TimeWindow(window[0], window[1]),
                purpose=Purpose(text(obj, "purpose")),
                case_number=text(obj, "case_number"),
                requester=Requester.from_canonical(obj["requester"]),
                warrant_id=warrant,
                exigent=exigent,
            )
        except VerificationError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError(f"malformed signed query: {exc}") from None


@dataclass(frozen=True)
class SearchReceipt:
    query_id: str
    node: str
    count: int
    results_sha256: str
    refused_rules: tuple[str, ...]
    signed_at: int

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "v": SEARCH_RECEIPT_VERSION,
            "query_id": self.query_id,
            "node": self.node,
            "count": self.count,
            "results_sha256": self.results_sha256,
            "refused_rules": list(self.refused_rules),
            "signed_at": self.signed_at,
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> SearchReceipt:
        """Raises: VerificationError on any shape error."""
        try:
            obj = fields(
                value,
                "receipt",
                {"v", "query_id", "node", "count", "results_sha256", "refused_rules", "signed_at"},
            )
            if obj["v"] != SEARCH_RECEIPT_VERSION:
                raise VerificationError(f"unsupported receipt version {obj['v']!r}")
            return cls(
                query_id=text(obj, "query_id"),
                node=text(obj, "node"),
                count=integer(obj, "count"),
                results_sha256=text(obj, "results_sha256"),
                refused_rules=tuple(texts(obj, "refused_rules")),
                signed_at=integer(obj, "signed_at"),
            )
        except VerificationError:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise VerificationError(f"malformed receipt: {exc}") from None


def results_digest(sightings: Iterable[Sighting]) -> str:
    """Hex SHA-256 of the canonical JSON array of the results, in the order sent."""
    return results_digest_of_rows([s.to_row() for s in sightings])


def results_digest_of_rows(rows: Iterable[SightingRow]) -> str:
    """``results_digest`` of the sightings given as search rows (``alprfed.models.SIGHTING_ROW``):
    the same bytes, without building a Sighting per row (the node answers from its rows)."""
    return hashlib.sha256(canonical.encode([canonical_sighting(row) for row in rows])).hexdigest()


class Outcome(StrEnum):
    """What became of one agency in a federated query."""

    RESULTS = "results"  # the node answered (possibly with no sightings)
    DENIED = "denied"  # a gate, or the node's own law, refused
    UNAVAILABLE = "unavailable"  # the node could not be reached or failed
    TIMED_OUT = "timed_out"  # no answer inside the per-node deadline
    BAD_RECEIPT = "bad_receipt"  # the receipt did not verify; the results were dropped
    EVIDENCE_REFUSED = "evidence_refused"  # the node found the query's evidence wanting


def verify_receipt(
    envelope: Envelope,
    *,
    node_key: VerifyingKey,
    node_id: str,
    query_id: str,
    sightings: Sequence[Sighting],
    refused_rules: Sequence[str],
) -> SearchReceipt:
    """Check that a node's receipt is signed by that node and binds exactly what arrived.

    Raises:
        VerificationError: bad signature, another node or query, or a count, digest or refusal
            list that differs from the response.
    """
    receipt = SearchReceipt.from_canonical(
        open_envelope(envelope, payload_type=SEARCH_RECEIPT_TYPE, keys=keyring(node_key))
    )
    if receipt.node != node_id or receipt.query_id != query_id:
        raise VerificationError("receipt is for another node or query")
    if receipt.count != len(sightings):
        raise VerificationError(f"receipt counts {receipt.count}, response holds {len(sightings)}")
    if receipt.results_sha256 != results_digest(sightings):
        raise VerificationError("results digest differs from the receipt")
    if tuple(refused_rules) != receipt.refused_rules:
        raise VerificationError("refusals differ from the receipt")
    return receipt
