"""Audit replay: re-decide every logged query with the policy that was in force for it.

An oversight body learns from this whether the gateway ever let through what its own published
policy forbids (or refused what it allows). For each ``query_decision`` entry the replay
rebuilds the facts from the entry, the policy bundle it names (published earlier in the same
ledger, each of its documents in a ``policy_document`` entry before it), the warrant or exigent
approval it cites (registered earlier, revoked or not by then), and runs the same
``Gates.decide`` the gateway runs, at the logged time, so the law in force then decides.
Plates stay commitments: whether the plate was listed in the warrant (or the approval) is the
gateway's recorded claim of which commitment slot matched, which an auditor can check further
by opening both commitments.

It also summarizes: queries per agency, purpose and outcome, warrants used, exigent queries
awaiting judicial review, rejected requests.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from alprfed.errors import AlprfedError, ConfigError, Reason
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.bundle import LoadedPolicy, PolicyBundle, joined_document, load_policy
from alprfed.policy.decision import QueryFacts
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import WarrantLimits, WarrantView


class EntryLike(Protocol):
    """What the replay reads of a ledger entry (alprfed.ledger.LedgerEntryView has it)."""

    @property
    def index(self) -> int: ...

    @property
    def kind(self) -> str: ...

    @property
    def body(self) -> Mapping[str, Any]: ...

    @property
    def commitments(self) -> tuple[str, ...]: ...


@dataclass(frozen=True)
class Disagreement:
    index: int
    query_id: str
    agency: str
    logged: str  # "allowed" or the refusing rule ids
    replayed: str
    note: str = ""


@dataclass
class AuditReport:
    entries: int = 0
    queries: int = 0
    rejected: int = 0
    by_requester: Counter[str] = field(default_factory=Counter)
    by_purpose: Counter[str] = field(default_factory=Counter)
    by_outcome: Counter[str] = field(default_factory=Counter)
    warrants_used: Counter[str] = field(default_factory=Counter)
    exigent_flagged: list[str] = field(default_factory=list)
    exigent_reviewed: set[str] = field(default_factory=set)
    disagreements: list[Disagreement] = field(default_factory=list)
    # Every rule the replay saw refuse, with the state and citation of the policy in force
    # then: what the transparency report cites beside each refusal.
    reasons: dict[str, Reason] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as ``alprfed ledger audit --json`` prints it (and the transparency
        report republishes it verbatim, so the two can be compared)."""
        return {
            "entries": self.entries,
            "queries": self.queries,
            "rejected": self.rejected,
            "by_requester": dict(self.by_requester),
            "by_purpose": dict(self.by_purpose),
            "by_outcome": dict(self.by_outcome),
            "warrants_used": dict(self.warrants_used),
            "awaiting_review": self.awaiting_review,
            "disagreements": [d.__dict__ for d in self.disagreements],
        }

    @property
    def awaiting_review(self) -> list[str]:
        return [q for q in self.exigent_flagged if q not in self.exigent_reviewed]

    @property
    def clean(self) -> bool:
        return not self.disagreements


def _verdict(allowed: bool, refused_by: Iterable[str]) -> str:
    return "allowed" if allowed else "denied: " + ", ".join(sorted(refused_by))


class _Replayer:
    def __init__(self) -> None:
        self.bundles: dict[str, PolicyBundle] = {}
        self.unresolved: dict[str, str] = {}  # bundle digest -> why its documents are missing
        self.documents: dict[int, Mapping[str, Any]] = {}  # policy_document entries by index
        self.loaded: dict[str, LoadedPolicy] = {}
        self.warrants: dict[int, Mapping[str, Any]] = {}  # entry index -> body
        self.warrant_commitments: dict[int, int] = {}  # entry index -> plate count
        self.revoked: dict[str, int] = {}  # warrant id -> revoked_at
        self.approvals: dict[int, Mapping[str, Any]] = {}
        self.report = AuditReport()

    def policy(self, digest: str) -> LoadedPolicy | None:
        if digest not in self.loaded:
            bundle = self.bundles.get(digest)
            if bundle is None:
                return None
            self.loaded[digest] = load_policy(bundle)
        return self.loaded[digest]

    def feed(self, entry: EntryLike) -> None:
        body, kind, report = entry.body, str(entry.kind), self.report
        report.entries += 1
        if kind == "policy_document":
            self.documents[entry.index] = body
        elif kind == "policy_bundle":
            self.add_bundle(body)
        elif kind == "warrant_registered":
            self.warrants[entry.index] = body
            self.warrant_commitments[entry.index] = len(entry.commitments)
        elif kind == "warrant_revoked":
            self.revoked[body["warrant_id"]] = body["revoked_at"]
        elif kind == "exigent_approved":
            self.approvals[entry.index] = body
        elif kind == "exigent_reviewed":
            report.exigent_reviewed.add(body["query_id"])
        elif kind == "query_rejected":
            report.rejected += 1
        elif kind == "query_outcome":
            states = {o["outcome"] for o in body["outcomes"]}
            report.by_outcome["complete" if body["complete"] else "partial"] += 1
            report.by_outcome["with results" if "results" in states else "no results"] += 1
            if body["flagged_for_review"]:
                report.exigent_flagged.append(body["query_id"])
        elif kind == "query_decision":
            self.replay(entry)

    def add_bundle(self, body: Mapping[str, Any]) -> None:
        """Rebuild a published bundle from its entry and the document entries it names.

        A version 2 bundle names, per path, the ``policy_document`` entries (one, or the parts
        of a large document) that published the text; they must come earlier, carry the same
        path, and their joined text must have the hash the bundle records.
        A bundle whose documents cannot all be found is remembered as unresolved, so every
        decision made under it is reported, never silently replayed with other law.
        """
        value = body["bundle"]
        texts: dict[str, str] = {}
        for path, indexes in (body.get("document_entries") or {}).items():
            text = self.document_text(path, indexes)
            if text is not None:
                texts[path] = text
        try:
            bundle = PolicyBundle.from_canonical(value, texts)
        except ConfigError as exc:
            self.unresolved[body["bundle_sha256"]] = str(exc)
            return
        self.bundles[bundle.digest] = bundle

    def document_text(self, path: str, indexes: list[int]) -> str | None:
        """The text the named ``policy_document`` entries hold for ``path``: every part, in
        order, of one document (same path, hash and count); None if any is missing or wrong.
        The caller checks the joined text against the bundle's hash."""
        return joined_document(path, [self.documents.get(index) for index in indexes])

    def replay(self, entry: EntryLike) -> None:
        body, report = entry.body, self.report
        requester = body["requester"]
        report.queries += 1
        report.by_requester[requester["organization"]] += 1
        report.by_purpose[body["purpose"]] += 1
        if body["warrant_id"]:
            report.warrants_used[body["warrant_id"]] += 1
        digest = body["policy_bundle"]
        loaded = self.policy(digest)
        if loaded is None:
            why = self.unresolved.get(digest, "was never published before it")
            report.disagreements.append(
                Disagreement(
                    entry.index,
                    body["query_id"],
                    "*",
                    "-",
                    "-",
                    f"policy bundle {digest[:16]}: {why}",
                )
            )
            return
        facts = QueryFacts(
            officer=requester["principal"],
            agency=requester["organization"],
            plate="",
            window=TimeWindow(*body["window"]),
            purpose=Purpose(body["purpose"]),
            case_number=body["case_number"],
            warrant_id=body["warrant_id"],
            exigent_approval_id=body["exigent_approval_id"],
            targets=tuple(body["targets"]),
            now=body["decided_at"],
            kind=requester["kind"],
        )
        decision = loaded.gates.decide(
            facts, warrant=self.warrant_view(body), approval=self.approval_view(body)
        )
        logged = {d["agency"]: d for d in body["decisions"]}
        for replayed in decision.agencies:
            report.reasons.update((r.rule_id, r) for r in replayed.reasons)
            was = logged.get(replayed.agency_id)
            now_verdict = _verdict(replayed.allowed, (r.rule_id for r in replayed.reasons))
            then_verdict = _verdict(was["allowed"], was["refused_by"]) if was else "missing"
            if now_verdict != then_verdict:
                report.disagreements.append(
                    Disagreement(
                        entry.index, body["query_id"], replayed.agency_id, then_verdict, now_verdict
                    )
                )

    def warrant_view(self, body: Mapping[str, Any]) -> WarrantView | None:
        index = body["warrant_entry"]
        warrant = self.warrants.get(index) if index is not None else None
        if warrant is None or warrant["warrant_id"] != body["warrant_id"]:
            return None
        slot = body["warrant_plate_slot"]
        revoked_at = self.revoked.get(warrant["warrant_id"])
        window = TimeWindow(*warrant["window"])
        return WarrantView(
            warrant_id=warrant["warrant_id"],
            # The court's jurisdiction is judged by the gates against the courts of the bundle
            # in force for this query, exactly as the gateway judged it.
            court=warrant["court"],
            agency=warrant["agency"],
            window=window,
            offense=Purpose(warrant["offense"]),
            limits=WarrantLimits(
                frozenset(warrant["limits"]["states"]), frozenset(warrant["limits"]["agencies"])
            ),
            issued_at=warrant["issued_at"],
            expires_at=warrant["expires_at"],
            revoked_at=revoked_at,
            plate_listed=slot is not None and 0 <= slot < self.warrant_commitments[index],
            # The entry records the window and issuance, not the flag; a registered warrant's
            # signed flag equals this (Warrant.__post_init__ refuses any other).
            prospective=window.end > warrant["issued_at"],
        )

    def approval_view(self, body: Mapping[str, Any]) -> ApprovalView | None:
        index = body["exigent_entry"]
        approval = self.approvals.get(index) if index is not None else None
        if approval is None or approval["approval_id"] != body["exigent_approval_id"]:
            return None
        return ApprovalView(
            approval_id=approval["approval_id"],
            agency=approval["agency"],
            officer=approval["officer"],
            supervisor=approval["supervisor"],
            purpose=Purpose(approval["purpose"]),
            case_number=approval["case_number"],
            created_at=approval["approved_at"],
            expires_at=approval["expires_at"],
            plate_matches=body["exigent_plate_slot"] == 0,
        )


def audit_entries(entries: Iterable[EntryLike]) -> AuditReport:
    """Replay every query decision in ``entries`` (in ledger order).

    Raises:
        AlprfedError: an entry this code cannot read (e.g. a malformed policy bundle); the
            ledger itself should have been verified first (``alprfed ledger verify``).
    """
    replayer = _Replayer()
    for entry in entries:
        try:
            replayer.feed(entry)
        except (KeyError, TypeError, ValueError) as exc:
            raise AlprfedError(
                f"entry {entry.index} ({entry.kind}) cannot be replayed: {exc!r}"
            ) from None
    return replayer.report
