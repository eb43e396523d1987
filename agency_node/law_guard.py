"""The node's own law check: it re-decides about its own data instead of trusting the gateway.

A gateway that is compromised or misconfigured could address a node it should not. The node
therefore applies the law that governs its data (its state's pack, via alprfed.law) to the
facts the gateway signed, and enforces what never depends on the query: no sighting older than
the retention period, and no sighting from a sensitive-site category its law withholds -- both
refused at storage (``ObservationBounds``) and, for reads stored before a camera's site was
registered, withheld when queried (``releasable``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Protocol

from alprfed.config import NodeConfig
from alprfed.errors import Reason
from alprfed.law import HolderGuard, LawDecision, LawRequest, load_law_book
from alprfed.messages import SearchQuery
from alprfed.models import (
    MAX_WINDOW_FUTURE_S,
    ROW_OBSERVED_AT,
    ROW_SENSITIVE_SITE,
    Camera,
    SensitiveSite,
    Sighting,
    SightingRow,
)


@dataclass(frozen=True)
class ObservationBounds:
    """Which reads a node accepts at ingest and import.

    Nothing from the future (beyond clock skew), and nothing its retention no longer allows it
    to hold: such a record would be stored only to be purged, or never purged at all. And, where
    the node's law forbids collection at sensitive sites (Washington), nothing from a camera
    registered at one: such a read must never be collected, so withholding it at query time
    would not be enough.
    """

    oldest: int
    newest: int
    barred_sites: frozenset[SensitiveSite] = frozenset()
    sites_rule: Reason | None = None  # the rule barring them, cited in every refusal

    def camera_problem(self, camera: Camera) -> str | None:
        """Why reads from ``camera`` may not be stored, or None."""
        if camera.sensitive_site is None or camera.sensitive_site not in self.barred_sites:
            return None
        rule = self.sites_rule
        cited = f"{rule.rule_id} ({rule.state}, {rule.citation}): " if rule else ""
        return (
            f"camera {camera.camera_id!r} is registered at a {camera.sensitive_site} site and "
            f"this node's law forbids collecting there; {cited}reads from it are not stored"
        )

    def problem(self, sighting: Sighting) -> str | None:
        """Why ``sighting`` may not be stored, or None."""
        if self.oldest <= sighting.observed_at <= self.newest:
            return None  # the common case: formatting the time showed in the import profile
        when = dt.datetime.fromtimestamp(sighting.observed_at, dt.UTC).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        if sighting.observed_at > self.newest:
            return f"observed_at {when} is in the future"
        return f"observed_at {when} is older than this node's retention allows it to hold"


class LawBookLike(Protocol):
    def decide(self, request: LawRequest) -> LawDecision: ...

    def holder_guard(self, state: str, *, configured_retention: int | None) -> HolderGuard: ...


def load_node_law(config: NodeConfig, law_book: LawBookLike | None = None) -> NodeLawGuard:
    """The law a node applies: its own state's pack from its policies directory.

    Raises:
        ConfigError: bad law packs, or no retention period from the law nor the config.
    """
    book = law_book or load_law_book(config.effective_policies_dir)
    return NodeLawGuard(
        law_book=book,
        agency_id=config.agency_id,
        state=config.state,
        configured_retention=config.retention_seconds,
    )


class NodeLawGuard:
    def __init__(
        self,
        *,
        law_book: LawBookLike,
        agency_id: str,
        state: str,
        configured_retention: int | None,
    ) -> None:
        """Raises: ConfigError when neither the law nor the config sets a retention period."""
        self._law_book = law_book
        self._agency_id = agency_id
        self.guard = law_book.holder_guard(state, configured_retention=configured_retention)
        if self.guard.retention_seconds is None:
            # holder_guard refuses this already; keep the invariant local and explicit.
            raise AssertionError("a node must have a retention period")
        self.retention_seconds: int = self.guard.retention_seconds

    @property
    def state(self) -> str:
        return self.guard.state

    def decide(self, query: SearchQuery, now: int, *, prospective: bool = False) -> LawDecision:
        """The node state's law applied to the facts the gateway signed; ``prospective`` comes
        from the verified warrant (it reaches past its issuance: tracking)."""
        requester = query.requester
        return self._law_book.decide(
            LawRequest(
                holder_agency=self._agency_id,
                holder_state=self.guard.state,
                requester_agency=requester.agency_id,
                requester_state=requester.state,
                requester_kind=requester.kind,
                purpose=query.purpose,
                case_number=query.case_number,
                window=query.window,
                now=now,
                warrant=query.warrant_id is not None,
                exigent=query.exigent,
                declarations_on_file=frozenset(requester.declarations_on_file),
                prospective=prospective,
            )
        )

    def ingest_bounds(self, now: int) -> ObservationBounds:
        return ObservationBounds(
            oldest=self.oldest_releasable(now),
            newest=now + MAX_WINDOW_FUTURE_S,
            barred_sites=self.guard.withheld_sites,
            sites_rule=self.guard.sites_rule,
        )

    def oldest_releasable(self, now: int) -> int:
        """Sightings observed before this instant are past retention and never returned."""
        return now - self.retention_seconds

    def releasable(self, row: SightingRow, now: int) -> bool:
        """Whether a found sighting (its search row) may leave: within retention and not at a
        site this state's law withholds.

        Raises:
            ValueError: the row's sensitive-site category is unknown (nothing is released).
        """
        site = row[ROW_SENSITIVE_SITE]
        return row[ROW_OBSERVED_AT] >= self.oldest_releasable(now) and (
            not site or SensitiveSite(site) not in self.guard.withheld_sites
        )
