"""Two-sided audit: hold each node's own access log against the ledger.

The ledger says what the gateway decided and what it says each node answered; a node's access
log says what the node actually did. Neither side alone can be trusted by an auditor who
suspects the other, so ``reconcile`` matches them:

- every answer in a node's log has a logged ``query_decision`` permitting that node, and the
  receipt the node signed is the one the ledger's ``query_outcome`` recorded for it;
- every node answer the ledger records (outcome ``results``, or ``denied`` with the node's
  receipt) is in that node's log;
- refusals are reported: a refusal with no logged decision is an attempt to query the node
  outside the ledger (a stolen gateway key, say) -- exactly what an auditor must see.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from alprfed.policy.replay import EntryLike

NODE_ANSWERS = ("results", "denied")


@dataclass(frozen=True)
class Finding:
    agency: str
    query_id: str
    problem: str
    severe: bool = True


@dataclass
class ReconcileReport:
    matched: int = 0
    refusals_with_decision: int = 0
    attempts_without_decision: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not any(f.severe for f in self.findings)


def reconcile(
    entries: Iterable[EntryLike], node_logs: Mapping[str, Iterable[Mapping[str, Any]]]
) -> ReconcileReport:
    """Match the (verified) ledger ``entries`` with each agency's access-log records."""
    decisions: dict[str, tuple[int, frozenset[str]]] = {}
    outcomes: dict[tuple[str, str], tuple[str, str | None]] = {}
    for entry in entries:
        body = entry.body
        if entry.kind == "query_decision":
            permitted = frozenset(
                str(d.get("agency"))
                for d in _objects(body.get("decisions"))
                if d.get("allowed") is True
            )
            decisions[str(body.get("query_id"))] = (entry.index, permitted)
        elif entry.kind == "query_outcome":
            for outcome in _objects(body.get("outcomes")):
                receipt = outcome.get("receipt")
                signature = receipt.get("signature") if isinstance(receipt, dict) else None
                outcomes[str(body.get("query_id")), str(outcome.get("agency"))] = (
                    str(outcome.get("outcome")),
                    signature,
                )
    report = ReconcileReport()
    for agency, records in node_logs.items():
        answered: set[str] = set()
        for record in records:
            _check_record(agency, record, decisions, outcomes, report, answered)
        for (query_id, outcome_agency), (logged, signature) in outcomes.items():
            if (
                outcome_agency == agency
                and logged in NODE_ANSWERS
                and signature is not None
                and query_id not in answered
            ):
                report.findings.append(
                    Finding(agency, query_id, "the ledger records an answer the node never logged")
                )
    return report


def _objects(value: Any) -> list[Mapping[str, Any]]:
    """The objects of a list in a (verified, but maybe malformed) entry body."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _check_record(
    agency: str,
    record: Mapping[str, Any],
    decisions: Mapping[str, tuple[int, frozenset[str]]],
    outcomes: Mapping[tuple[str, str], tuple[str, str | None]],
    report: ReconcileReport,
    answered: set[str],
) -> None:
    query_id = str(record.get("query_id"))
    decision = decisions.get(query_id)
    if record.get("outcome") != "answered":
        if decision is None:
            report.attempts_without_decision += 1
            report.findings.append(
                Finding(
                    agency,
                    query_id,
                    "a query reached the node with no logged decision (refused: "
                    f"{str(record.get('reason'))[:120]})",
                    severe=False,
                )
            )
        else:
            report.refusals_with_decision += 1
        return
    answered.add(query_id)
    if decision is None or agency not in decision[1]:
        report.findings.append(
            Finding(agency, query_id, "the node answered a query no logged decision permitted it")
        )
        return
    if record.get("decision_index") != decision[0]:
        report.findings.append(
            Finding(agency, query_id, "the node relied on another entry than the logged decision")
        )
        return
    logged = outcomes.get((query_id, agency))
    receipt = record.get("receipt") or {}
    if logged is None:
        report.findings.append(
            Finding(agency, query_id, "the ledger has no outcome for an answer the node gave")
        )
    elif logged[1] is None and logged[0] in ("timed_out", "unavailable"):
        # The node answered after the gateway gave up waiting: its results never left the
        # gateway, and the ledger says so. Worth a look, not a lie.
        report.findings.append(
            Finding(
                agency,
                query_id,
                f"the node answered, but the gateway recorded {logged[0]} (too late)",
                severe=False,
            )
        )
    elif logged[1] != receipt.get("signature"):
        report.findings.append(
            Finding(agency, query_id, "the receipt the node signed is not the one logged")
        )
    else:
        report.matched += 1
