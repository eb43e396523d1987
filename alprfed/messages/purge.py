"""A node's signed retention-purge report (payload type ``PURGE_REPORT_TYPE``).

::

    {"v": 1, "node": <agency id>, "state": <two letters>, "cutoff": <Unix s>,
     "retention_seconds": <s>, "deleted_sightings": <count>, "ran_at": <Unix s>}

``cutoff`` is exclusive: sightings observed at or after it are kept. The node signs it with its
node key; the gateway verifies it and records it in the ledger.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alprfed.canonical import JSONValue
from alprfed.errors import VerificationError
from alprfed.messages.fields import fields, integer, text
from alprfed.models import check_identifier, check_state

PURGE_REPORT_VERSION = 1
_FIELDS = {"v", "node", "state", "cutoff", "retention_seconds", "deleted_sightings", "ran_at"}


@dataclass(frozen=True)
class PurgeReport:
    """What one purge run did. ``forgotten_nonces`` is local housekeeping, not signed."""

    node: str
    state: str
    cutoff: int
    retention_seconds: int
    deleted_sightings: int
    ran_at: int
    forgotten_nonces: int = field(default=0, compare=False)

    def to_canonical(self) -> dict[str, JSONValue]:
        return {
            "v": PURGE_REPORT_VERSION,
            "node": self.node,
            "state": self.state,
            "cutoff": self.cutoff,
            "retention_seconds": self.retention_seconds,
            "deleted_sightings": self.deleted_sightings,
            "ran_at": self.ran_at,
        }

    @classmethod
    def from_canonical(cls, value: JSONValue) -> PurgeReport:
        """Parse a verified payload. Raises: VerificationError on any shape or value error."""
        obj = fields(value, "purge report", _FIELDS)
        if obj["v"] != PURGE_REPORT_VERSION:
            raise VerificationError(f"unsupported purge report version {obj['v']!r}")
        try:
            report = cls(
                node=check_identifier(text(obj, "node"), field_name="node"),
                state=check_state(text(obj, "state")),
                cutoff=integer(obj, "cutoff"),
                retention_seconds=integer(obj, "retention_seconds"),
                deleted_sightings=integer(obj, "deleted_sightings"),
                ran_at=integer(obj, "ran_at"),
            )
        except VerificationError:
            raise
        except ValueError as exc:
            raise VerificationError(f"malformed purge report: {exc}") from None
        if min(report.cutoff, report.retention_seconds, report.deleted_sightings) < 0:
            raise VerificationError("purge report counts and times must not be negative")
        return report
