"""Gate 3: court-signed warrants and the scope a query must stay inside.

A court signs a warrant (``alprfed warrant issue``) as a DSSE envelope of canonical JSON with a
court key the federation file trusts; a court clerk registers it at the gateway; a query cites
it. A query goes nowhere unless the warrant is registered, not yet expired, not revoked, and
covers it: the same agency, the plate listed, the query window inside the warrant's window, the
purpose matching the warrant's offense, and every target inside the warrant's optional limits.
This is stricter than most state laws, on purpose.

A warrant authorizes only an agency within its court's jurisdiction (``court_covers``): a state
court's warrants reach the local and state agencies of its state, a federal court's the federal
agencies and the agencies of its district's state(s). Registration refuses a warrant outside
it, and the gate checks it again against the courts in force, so a warrant registered under an
older federation file cannot outlive the court's jurisdiction.

A warrant whose window ends after it was issued covers sightings not yet made: it authorizes
prospective location tracking, and says so in its signed ``prospective`` flag, which some
states' law refuses to accept in place of their own tracking-warrant process (docs/LAW.md).
Its ``salt`` (32 random bytes the court draws) makes the payload's hash, which the public
ledger records, useless for guessing the plates it lists (docs/PROTOCOL.md).

``WarrantView`` is what the scope check needs, without the plates: the gateway builds it from a
registered warrant, the audit replay from the ledger (where plates are only commitments), so the
same check runs in both places.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from alprfed.canonical import JSONValue
from alprfed.config import CourtConfig, CourtKind
from alprfed.errors import InvalidRequest, Reason, VerificationError
from alprfed.models import (
    Agency,
    AgencyKind,
    Purpose,
    TimeWindow,
    check_identifier,
    check_state,
    normalize_plate,
)
from alprfed.signing import WARRANT_TYPE, Envelope, VerifyingKey, keyring, open_envelope

WARRANT_VERSION = 2
MAX_WARRANT_PLATES = 50
MAX_WARRANT_VALIDITY_S = 366 * 86_400
WARRANT_SALT_BYTES = 32  # drawn by the court: secrets.token_hex(WARRANT_SALT_BYTES)
_SALT = re.compile(f"[0-9a-f]{{{2 * WARRANT_SALT_BYTES}}}")


def court_covers(court: CourtConfig, agency: Agency) -> bool:
    """Whether ``court``'s warrants can authorize ``agency``: the court's jurisdiction.

    A state court reaches the local and state agencies of its state(s), never a federal
    agency (even a field office in its state); a federal court reaches every federal agency
    and the local and state agencies of its district's state(s).
    """
    if agency.kind is AgencyKind.FEDERAL:
        return court.kind is CourtKind.FEDERAL
    return agency.state in court.states


def describe_jurisdiction(court: CourtConfig, agency: Agency) -> str:
    """Why ``court`` lacks jurisdiction over ``agency``, in one sentence (for refusals)."""
    states = ", ".join(sorted(court.states)) or "no state"
    return (
        f"court {court.court_id} ({court.kind.value} court, {states}) has no jurisdiction over "
        f"{agency.agency_id} ({agency.kind.value} agency, {agency.state})"
    )


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
    # True exactly when the window ends after issuance: it covers sightings not yet made
    # (tracking). Signed, so a state's law can refuse it, and checked, so it cannot lie.
    prospective: bool
    # 64 lower-case hex digits the court drew at signing: the ledger publishes the payload's
    # SHA-256, and without an unguessable salt hashing guessed plates would reveal them.
    salt: str
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
        if self.prospective != (self.window.end > self.issued_at):
            raise InvalidRequest(
                "a warrant is prospective exactly when its window ends after it is issued",
                field="prospective",
            )
        if not isinstance(self.salt, str) or not _SALT.fullmatch(self.salt):
            raise InvalidRequest(
                f"a warrant's salt is {2 * WARRANT_SALT_BYTES} lower-case hex digits",
                field="salt",
            )

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
            "prospective": self.prospective,
            "salt": self.salt,
            "limits": self.limits.to_canonical(),
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> Warrant:
        """Raises: InvalidRequest on a malformed warrant, or one of another version."""
        try:
            if not isinstance(value, dict):
                raise InvalidRequest("a warrant is a JSON object", field="warrant")
            if value.get("v") != WARRANT_VERSION:
                # v1 warrants had no salt (their hash in the ledger could reveal their plates)
                # and no prospective flag; a court re-issues them with alprfed warrant issue.
                raise InvalidRequest(
                    f"not a version {WARRANT_VERSION} warrant (got v={value.get('v')!r}); "
                    "the court must re-issue it",
                    field="warrant",
                )
            if set(value) != _WARRANT_FIELDS:
                raise InvalidRequest(
                    f"a warrant has exactly the fields {', '.join(sorted(_WARRANT_FIELDS))}",
                    field="warrant",
                )
            prospective = value["prospective"]
            if not isinstance(prospective, bool):
                raise InvalidRequest("prospective must be true or false", field="prospective")
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
                prospective=prospective,
                salt=str(value["salt"]),
                limits=WarrantLimits(
                    states=frozenset(check_state(s) for s in limits["states"]),
                    agencies=frozenset(str(a) for a in limits["agencies"]),
                ),
            )
        except InvalidRequest:
            raise
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise InvalidRequest(f"malformed warrant: {exc}", field="warrant") from None


_WARRANT_FIELDS = frozenset(
    {
        "v",
        "warrant_id",
        "court",
        "judge",
        "issued_at",
        "expires_at",
        "agency",
        "plates",
        "window",
        "offense",
        "prospective",
        "salt",
        "limits",
    }
)


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
    court: str  # the issuing court's id; its jurisdiction is judged against the courts in force
    agency: str
    window: TimeWindow
    offense: Purpose
    limits: WarrantLimits
    issued_at: int
    expires_at: int
    revoked_at: int | None
    plate_listed: bool
    prospective: bool  # the window ends after issuance: prospective tracking (law may refuse)


def _reason(rule: str, message: str) -> Reason:
    return Reason(gate="warrant", rule_id=f"warrant.{rule}", message=message)


def _jurisdiction_refusal(
    view: WarrantView, courts: Mapping[str, CourtConfig], agencies: Mapping[str, Agency]
) -> str | None:
    """Why the warrant's court (as the federation now knows it) cannot authorize its agency."""
    court = courts.get(view.court)
    if court is None:
        return f"warrant {view.warrant_id}'s court {view.court} is not a court of this federation"
    agency = agencies.get(view.agency)
    if agency is None:
        return (
            f"warrant {view.warrant_id} authorizes {view.agency}, not an agency of this federation"
        )
    if not court_covers(court, agency):
        return f"warrant {view.warrant_id}: {describe_jurisdiction(court, agency)}"
    return None


def check_warrant_scope(
    view: WarrantView | None,
    *,
    warrant_id: str,
    requester_agency: str,
    window: TimeWindow,
    purpose: Purpose,
    now: int,
    courts: Mapping[str, CourtConfig],
    agencies: Mapping[str, Agency],
) -> tuple[Reason, ...]:
    """Reasons the cited warrant does not authorize this query at all (empty: it does).

    ``courts`` and ``agencies`` are the federation's in force now, not at registration: a
    court that lost jurisdiction (or the federation's trust) no longer authorizes anything.
    Per-target limits are checked separately by ``check_warrant_target``.
    """
    if view is None:
        return (_reason("registered", f"warrant {warrant_id} is not registered at the gateway"),)
    jurisdiction = _jurisdiction_refusal(view, courts, agencies)
    checks = (
        (jurisdiction is not None, "court-jurisdiction", jurisdiction or ""),
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
