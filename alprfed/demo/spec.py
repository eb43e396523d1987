"""Who takes part in the demo federation (ids match policies/policy.csv)."""

from __future__ import annotations

from dataclasses import dataclass

from alprfed.config import CourtKind
from alprfed.models import AgencyKind

DAY = 86_400


@dataclass(frozen=True)
class AgencySpec:
    agency_id: str
    name: str
    state: str
    kind: AgencyKind
    sightings: int = 0  # 0: no node, a requester only
    retention_seconds: int | None = None  # the agency's own period; None: the law's
    declarations: tuple[str, ...] = ()  # states whose required declaration is on file

    @property
    def runs_node(self) -> bool:
        return self.sightings > 0


@dataclass(frozen=True)
class CourtSpec:
    court_id: str
    name: str
    clerk: str
    kind: CourtKind  # with states, whom its warrants can authorize (court_covers)
    states: tuple[str, ...]  # a state court's state; a federal court's district state(s)


@dataclass(frozen=True)
class WitnessSpec:
    """An oversight body that runs a witness cosigning the ledger's checkpoints."""

    witness_id: str  # its short name in the witness policy (the body's organization id)
    name: str  # its key name, a schema-less URL


@dataclass(frozen=True)
class FederationSpec:
    name: str
    origin: str
    agencies: tuple[AgencySpec, ...]
    courts: tuple[CourtSpec, ...]
    people: dict[str, tuple[str, ...]]  # organization -> person ids
    oversight: tuple[str, ...] = ()
    exigent_lookback_hours: int = 72
    witnesses: tuple[WitnessSpec, ...] = ()
    witness_quorum: int = 0  # how many witnesses must cosign a checkpoint before it is used

    def agency(self, agency_id: str) -> AgencySpec:
        return next(a for a in self.agencies if a.agency_id == agency_id)

    def organizations(self) -> tuple[str, ...]:
        return (
            *(a.agency_id for a in self.agencies),
            *(c.court_id for c in self.courts),
            *self.oversight,
        )


DEMO = FederationSpec(
    name="alprfed demo federation",
    origin="demo.alprfed.example/ledger",
    agencies=(
        # San Jose keeps a year of reads; California sets no statewide cap for local agencies.
        AgencySpec(
            "sjpd",
            "San Jose Police Department",
            "CA",
            AgencyKind.LOCAL,
            70_000,
            retention_seconds=365 * DAY,
            declarations=("IL",),
        ),
        # Illinois sets no cap either; Chicago's own policy here keeps 90 days.
        AgencySpec(
            "chicago-pd",
            "Chicago Police Department",
            "IL",
            AgencyKind.LOCAL,
            70_000,
            retention_seconds=90 * DAY,
        ),
        AgencySpec("norfolk-pd", "Norfolk Police Department", "VA", AgencyKind.LOCAL, 50_000),
        AgencySpec("seattle-pd", "Seattle Police Department", "WA", AgencyKind.LOCAL, 50_000),
        AgencySpec(
            "minneapolis-pd", "Minneapolis Police Department", "MN", AgencyKind.LOCAL, 50_000
        ),
        AgencySpec(
            "ice-ero", "U.S. Immigration and Customs Enforcement (ERO)", "DC", AgencyKind.FEDERAL
        ),
        AgencySpec("johnson-county-so", "Johnson County Sheriff's Office", "TX", AgencyKind.LOCAL),
    ),
    courts=(
        CourtSpec(
            "santa-clara-superior",
            "Superior Court of California, County of Santa Clara",
            "clerk-lee",
            CourtKind.STATE,
            ("CA",),
        ),
        CourtSpec(
            "norfolk-circuit",
            "Circuit Court of the City of Norfolk",
            "clerk-adams",
            CourtKind.STATE,
            ("VA",),
        ),
        CourtSpec(
            "us-district-dc",
            "U.S. District Court for the District of Columbia",
            "clerk-baker",
            CourtKind.FEDERAL,
            ("DC",),
        ),
        CourtSpec(
            "johnson-county-district",
            "Johnson County District Court (Texas)",
            "clerk-cruz",
            CourtKind.STATE,
            ("TX",),
        ),
    ),
    people={
        "sjpd": ("officer-garcia", "sgt-nguyen"),
        "chicago-pd": ("officer-walsh",),
        "norfolk-pd": ("officer-brooks",),
        "seattle-pd": ("officer-kim",),
        "minneapolis-pd": ("officer-olson",),
        "ice-ero": ("agent-reyes",),
        "johnson-county-so": ("deputy-hale",),
        "santa-clara-superior": ("clerk-lee",),
        "norfolk-circuit": ("clerk-adams",),
        "us-district-dc": ("clerk-baker",),
        "johnson-county-district": ("clerk-cruz",),
        "ca-state-auditor": ("auditor-patel",),
        "federation": ("admin-ortiz",),
    },
    oversight=("ca-state-auditor",),
    # Three independent bodies witness the ledger; any two cosigning make a checkpoint public.
    witnesses=(
        WitnessSpec("ca-state-auditor", "witness.auditor.ca.example/alprfed"),
        WitnessSpec("santa-clara-superior", "witness.scscourt.example/alprfed"),
        WitnessSpec("aclu-norcal", "witness.aclunc.example/alprfed"),
    ),
    witness_quorum=2,
)
