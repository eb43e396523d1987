"""Gate 3: court-signed warrants and the scope a query must stay inside.

A court signs a warrant (``alprfed warrant issue``) as a DSSE envelope of canonical JSON with a
court key the federation file trusts; a court clerk registers it at the gateway; a query cites
it. A query goes nowhere unless the warrant is registered, not yet expired, not revoked, and
covers it: the same agency, the plate listed, the query window inside the warrant's window, the
purpose matching the warrant's offense, and every target inside the warrant's optional limits.
This is stricter than most state laws, on purpose.

``WarrantView`` is what the scope check needs, without the plates: the gateway builds it from a
registered warrant, the audit replay from the ledger (where plates are only commitments), so the
same check runs in both places.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from alprfed.canonical import JSONValue
from alprfed.errors import InvalidRequest, Reason, VerificationError
from alprfed.models import (
    Agency,
    Purpose,
    TimeWindow,
    check_identifier,
    check_state,
    normalize_plate,
)
from alprfed.signing import WARRANT_TYPE, Envelope, VerifyingKey, keyring, open_envelope

WARRANT_VERSION = 1
MAX_WARRANT_PLATES = 50
MAX_WARRANT_VALIDITY_S = 366 * 86_400


@dataclass(frozen=True)
class WarrantLimits:
    """Optional limits: empty means no limit beyond the federation's other gates."""

    states: frozenset[str] = frozenset()
    agencies: frozenset[str] = frozenset()

    def admits(self, agency: Agency) -> bool:
        return (not self.states or agency.state in self.states) and (
            not self.agencies or agency.agency_id in self.agencies
        )

    def to_canonical(self) -> dict[str, JSONValue]:
        return {"states": sorted(self.states), "agencies": sorted(self.agencies)}


@dataclass(frozen=True)
class Warrant:
    """A warrant as the court signed it."""

    warrant_id: str
    court: str
    judge: str
    issued_at: int
    expires_at: int
    agency: str  # the agency it authorizes
    plates: tuple[str, ...]
    window: TimeWindow  # the sightings it covers
    offense: Purpose
    limits: WarrantLimits = WarrantLimits()

    def __post_init__(self) -> None:
        check_identifier(self.warrant_id, field_name="warrant_id")
        check_identifier(self.court, field_name="court")
        check_identifier(self.agency, field_name="agency")
        if not self.judge.strip():
            raise InvalidRequest("a warrant names its judge", field="judge")
        if not 0 < self.expires_at - self.issued_at <= MAX_WARRANT_VALIDITY_S:
            raise InvalidRequest(
                "a warrant expires after it is issued, within a year", field="expires_at"
            )
        if not 1 <= len(self.plates) <= MAX_WARRANT_PLATES:
            raise InvalidRequest(
                f"a warrant lists 1 to {MAX_WARRANT_PLATES} plates", field="plates"
            )
        if self.window.start > self.window.end:
            raise InvalidRequest("the warrant's window starts after it ends", field="window")

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "v": WARRANT_VERSION,
            "warrant_id": self.warrant_id,
            "court": self.court,
            "judge": self.judge,
            "issued_at": self.issued_at,
            "expires_at": self.expires_at,
            "agency": self.agency,
            "plates": list(self.plates),
            "window": self.window.to_canonical(),
            "offense": self.offense.value,
            "limits": self.limits.to_canonical(),
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> Warrant:
        """Raises: InvalidRequest on a malformed warrant."""
        try:
            if not isinstance(value, dict) or value.get("v") != WARRANT_VERSION:
                raise InvalidRequest("not a version 1 warrant")
            limits = value["limits"]
            window = value["window"]
            return cls(
                warrant_id=str(value["warrant_id"]),
                court=str(value["court"]),
                judge=str(value["judge"]),
                issued_at=_int(value["issued_at"]),
                expires_at=_int(value["expires_at"]),
                agency=str(value["agency"]),
                plates=tuple(normalize_plate(p) for p in value["plates"]),
                window=TimeWindow(_int(window[0]), _int(window[1])),
                offense=Purpose(value["offense"]),
                limits=WarrantLimits(
                    states=frozenset(check_state(s) for s in limits["states"]),
                    agencies=frozenset(str(a) for a in limits["agencies"]),
                ),
            )
        except InvalidRequest:
            raise
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"malformed warrant: {exc}", field="warrant") from None


def _int(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidRequest("expected an integer", field="warrant")
    return value


def open_warrant(envelope: Envelope, courts: Mapping[str, VerifyingKey]) -> Warrant:
    """Verify a warrant envelope against the trusted court keys (court id -> key).

    Raises:
        VerificationError: not signed by a trusted court key, or signed by a court other than
            the one it names.
        InvalidRequest: the signed payload is not a well-formed warrant.
    """
    payload = open_envelope(envelope, payload_type=WARRANT_TYPE, keys=keyring(*courts.values()))
    warrant = Warrant.from_canonical(payload)
    court_key = courts.get(warrant.court)
    if court_key is None or court_key.key_id != envelope.key_id:
        raise VerificationError(f"warrant {warrant.warrant_id} is not signed by {warrant.court}")
    return warrant


@dataclass(frozen=True)
class WarrantView:
    """What the scope check needs; ``plate_listed`` is decided by whoever can see plates."""

    warrant_id: str
    agency: str
    window: TimeWindow
    offense: Purpose
    limits: WarrantLimits
    issued_at: int
    expires_at: int
    revoked_at: int | None
    plate_listed: bool


def _reason(rule: str, message: str) -> Reason:
    return Reason(gate="warrant", rule_id=f"warrant.{rule}", message=message)


def check_warrant_scope(
    view: WarrantView | None,
    *,
    warrant_id: str,
    requester_agency: str,
    window: TimeWindow,
    purpose: Purpose,
    now: int,
) -> tuple[Reason, ...]:
    """Reasons the cited warrant does not authorize this query at all (empty: it does).

    Per-target limits are checked separately by ``check_warrant_target``.
    """
    if view is None:
        return (_reason("registered", f"warrant {warrant_id} is not registered at the gateway"),)
    checks = (
        (
            view.revoked_at is not None and view.revoked_at <= now,
            "not-revoked",
            f"warrant {warrant_id} was revoked",
        ),
        (now >= view.expires_at, "unexpired", f"warrant {warrant_id} has expired"),
        (now < view.issued_at, "in-force", f"warrant {warrant_id} is not yet in force"),
        (
            view.agency != requester_agency,
            "same-agency",
            f"warrant {warrant_id} authorizes {view.agency}, not {requester_agency}",
        ),
        (not view.plate_listed, "plate-listed", f"the plate is not listed in warrant {warrant_id}"),
        (
            not view.window.contains(window),
            "window-inside",
            f"the query window is not inside warrant {warrant_id}'s window",
        ),
        (
            view.offense != purpose,
            "purpose-matches-offense",
            f"purpose {purpose.value} does not match the warrant's offense {view.offense.value}",
        ),
    )
    return tuple(_reason(rule, message) for failed, rule, message in checks if failed)


def check_warrant_target(view: WarrantView, agency: Agency) -> tuple[Reason, ...]:
    if view.limits.admits(agency):
        return ()
    return (
        _reason(
            "target-limits",
            f"warrant {view.warrant_id} does not reach {agency.agency_id} ({agency.state})",
        ),
    )
