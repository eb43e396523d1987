"""The federated query: gates, write-ahead audit, signed fan-out, verified answers.

identity (certificate) + QueryInput
  -> facts; resolve the cited warrant or exigent approval
  -> Gates.decide: per agency Casbin x warrant x state law       (alprfed.policy)
  -> ledger: query_decision                          (before anything leaves the gateway)
  -> wait until a witness quorum cosigned a checkpoint covering it
  -> one signed SearchQuery to exactly the permitted nodes, in parallel, under one deadline
  -> verify every receipt
  -> ledger: query_outcome, durable                  (before the officer sees anything)
  -> answer: every agency's outcome, complete or not, and a tlog-proof receipt of the
     witnessed decision entry (the outcome entry is witnessed in the next round; its proof
     comes from the Ledger service or `alprfed ledger proof --index`)
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, Protocol

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.clock import Clock
from alprfed.errors import AlprfedError, Reason, Unavailable
from alprfed.ledger import AppendedEntry
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.messages import Outcome, Requester, SearchQuery
from alprfed.messages.evidence import SearchEvidence
from alprfed.models import Agency
from alprfed.observability.metrics import GatewayMetrics
from alprfed.policy.bundle import LoadedPolicy
from alprfed.policy.decision import QueryDecision, QueryFacts
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import WarrantView
from alprfed.query import AgencyOutcome, QueryAnswer, QueryInput, query_targets
from alprfed.rpc.identity import Identity
from alprfed.signing import SEARCH_QUERY_TYPE, Envelope, SigningKey
from gateway.audit import AuditTrail, envelope_record
from gateway.budget import budget_s
from gateway.cancellation import finish_despite_cancellation
from gateway.evidence import EvidenceSource, build_evidence
from gateway.fanout import NodeAnswer, NodePool, fan_out
from gateway.observability import report_answer
from gateway.policy_state import PolicyHolder
from gateway.registry import GatewayRegistry

log = logging.getLogger("alprfed.gateway.query")

MAX_RECORDED_DETAIL = 100  # characters of an outcome's detail kept in the ledger
MAX_REMEMBERED_SLOTS = 4096  # warrant/approval plate matches kept in memory
QUERY_LIFETIME_S = 60  # how long a node may accept the signed query
NO_DEADLINE = 1e9  # Python gRPC reports "no deadline" as a huge time_remaining
MIN_WITNESS_WAIT_S = 1.0  # what a query waits at least for its decision to be witnessed
# Less left than this once the outcome is logged, and the answer (encoded, then sent) may miss
# the deadline: worth a line in the log (1-30 ms to encode 64 outcomes, gateway.budget).
TAIL_WARN_S = 0.01


class Witnessing(Protocol):
    """gateway.witnessing: when a checkpoint covering an entry is published."""

    async def wait_published(self, size: int, timeout_s: float) -> str: ...


class LedgerReader(EvidenceSource, Protocol):
    """What the service reads back from the ledger (alprfed.ledger.LedgerStore has these)."""

    def tlog_proof(self, index: int, *, checkpoint: str | None = None) -> str: ...

    def match_commitment(self, index: int, plate: str) -> int | None: ...


@dataclass(frozen=True)
class Resolved:
    warrant: WarrantView | None = None
    warrant_envelope: Envelope | None = None
    warrant_entry: int | None = None
    warrant_plate_slot: int | None = None
    approval: ApprovalView | None = None
    approval_consent: Envelope | None = None
    approval_chain: bytes = b""
    approval_entry: int | None = None
    approval_plate_slot: int | None = None


class QueryService:
    def __init__(
        self,
        *,
        policy: PolicyHolder,
        registry: GatewayRegistry,
        audit: AuditTrail,
        ledger: LedgerReader,
        pool: NodePool,
        witnessing: Witnessing,
        signer: SigningKey,
        clock: Clock,
        per_node_timeout_s: float,
        default_timeout_s: float,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._policy = policy
        self._metrics = metrics
        self._registry = registry
        self._audit = audit
        self._ledger = ledger
        self._evidence_source: EvidenceSource = ledger
        self._pool = pool
        self._witnessing = witnessing
        self._signer = signer
        self._clock = clock
        self._per_node_timeout = per_node_timeout_s
        self._default_timeout = default_timeout_s
        # (ledger entry, plate) -> matching commitment slot. Safe to remember: an entry and its
        # commitments never change, and openings outlive any warrant or approval citing them.
        # Registry rows (revocations) are still read fresh for every query.
        self._slots: OrderedDict[tuple[int, str], int | None] = OrderedDict()
        self._slots_lock = threading.Lock()  # _resolve runs on worker threads
        # Targets of the queries taken and not yet answered: what the reserve after each
        # fan-out is sized by (gateway.budget). Changed on the event loop only.
        self._in_flight = 0
        # What cancelled queries left running (gateway.cancellation).
        self._unfinished: set[asyncio.Future[Any]] = set()

    def check_targets(self, query: QueryInput) -> None:
        """Raises: InvalidRequest when ``query`` would address more agencies than one query
        may (``alprfed.query.query_targets``): checked before the query is taken, so the
        refusal is logged as a rejected request."""
        query_targets(query, [a.agency_id for a in self._policy.current.federation.nodes()])

    async def query(
        self, identity: Identity, query: QueryInput, time_remaining: float | None
    ) -> QueryAnswer:
        deadline = self._deadline(time_remaining)
        loaded = self._policy.current
        targets = query_targets(query, [a.agency_id for a in loaded.federation.nodes()])
        self._in_flight += len(targets)
        try:
            return await self._query(identity, query, loaded, targets, deadline)
        finally:
            self._in_flight -= len(targets)

    async def _query(
        self,
        identity: Identity,
        query: QueryInput,
        loaded: LoadedPolicy,
        targets: tuple[str, ...],
        deadline: float,
    ) -> QueryAnswer:
        federation = loaded.federation
        now = self._clock.now()
        facts = QueryFacts(
            officer=identity.principal,
            agency=identity.organization,
            plate=query.plate,
            window=query.window,
            purpose=query.purpose,
            case_number=query.case_number,
            warrant_id=query.warrant_id,
            exigent_approval_id=query.exigent_approval_id,
            targets=targets,
            now=now,
            kind=identity.kind.value,
        )
        resolved = await asyncio.to_thread(self._resolve, query)
        decision = loaded.gates.decide(facts, warrant=resolved.warrant, approval=resolved.approval)
        query_id = uuid.uuid4().hex
        decision_entry = await self._audit.query_decision(
            query_id=query_id,
            identity=identity,
            facts=facts,
            purpose_note=query.purpose_note,
            decision=decision,
            bundle_sha256=loaded.bundle.digest,
            warrant_entry=resolved.warrant_entry,
            warrant_plate_slot=resolved.warrant_plate_slot,
            approval_entry=resolved.approval_entry,
            approval_plate_slot=resolved.approval_plate_slot,
        )

        permitted = [federation.agencies[a] for a in decision.permitted]
        answers: dict[str, NodeAnswer] = {}
        not_sent = ""  # why the permitted nodes were not asked, if they were not
        evidence: SearchEvidence | None = None
        receipt: asyncio.Task[str] | None = None
        fanned_out: float | None = None  # event-loop time the fan-out ended
        if permitted:
            requester = federation.agencies[facts.agency]
            envelope = self._signer.sign_envelope(
                SEARCH_QUERY_TYPE,
                SearchQuery(
                    query_id=query_id,
                    addressees=tuple(a.agency_id for a in permitted),
                    issued_at=now,
                    expires_at=now + QUERY_LIFETIME_S,
                    nonce=secrets.token_hex(16),
                    plate=query.plate,
                    window=query.window,
                    purpose=query.purpose,
                    case_number=query.case_number,
                    requester=Requester(
                        requester.agency_id,
                        identity.principal,
                        requester.state,
                        requester.kind,
                        tuple(sorted(requester.declarations_on_file)),
                    ),
                    warrant_id=query.warrant_id if decision.authority == "warrant" else None,
                    exigent=decision.authority == "exigent",
                ).to_canonical(),
            )
            evidence, not_sent, witnessed = await self._prove_to_nodes(
                query_id, decision, decision_entry, resolved, deadline
            )
            if witnessed is not None:
                # Built while the nodes search: the receipt needs nothing they answer.
                receipt = asyncio.create_task(self._receipt_on(decision_entry, witnessed))
                # Retrieved even when a later step fails and the answer is never built.
                receipt.add_done_callback(lambda t: t.cancelled() or t.exception())
        if permitted and evidence is not None:
            # Not signed as a whole: each part carries its own signature, which is all a
            # node relies on (docs/PROTOCOL.md, "The evidence a node demands").
            bundle = canonical.encode(evidence.to_canonical())
            loop = asyncio.get_running_loop()
            timeout = min(self._per_node_timeout, self._budget(deadline))
            for answer in await fan_out(
                self._pool,
                permitted,
                envelope,
                bundle,
                query_id=query_id,
                timeout_s=timeout,
            ):
                answers[answer.agency.agency_id] = answer
            fanned_out = loop.time()

        if not_sent:
            answers = {
                agency_id: NodeAnswer(
                    federation.agencies[agency_id], Outcome.UNAVAILABLE, detail=not_sent
                )
                for agency_id in decision.permitted
            }
        outcomes = tuple(
            self._outcome(
                federation.agencies.get(agency_id), agency_id, decision, answers.get(agency_id)
            )
            for agency_id in targets
        )
        complete = all(o.outcome in (Outcome.RESULTS, Outcome.DENIED) for o in outcomes)
        report_answer(self._metrics, query_id, outcomes, complete, listed=federation.agencies)
        flagged = decision.authority == "exigent" and bool(permitted)
        # Shielded: the officer's deadline may cancel this query while its outcome waits for
        # the ledger writer, which drops a cancelled caller's entry before its batch begins;
        # the decision entry would then stand in the audit with no outcome.
        outcome_entry = await finish_despite_cancellation(
            self._audit.query_outcome(
                query_id=query_id,
                decision_entry=decision_entry,
                outcomes=[_outcome_record(o) for o in outcomes],
                complete=complete,
                flagged_for_review=flagged,
                answered_at=self._clock.now(),
            ),
            f"query {query_id}: the outcome entry",
            self._unfinished,
        )
        if flagged and query.exigent_approval_id:
            await asyncio.to_thread(
                self._registry.flag_exigent_query,
                query_id=query_id,
                approval_id=query.exigent_approval_id,
                agency=identity.organization,
                officer=identity.principal,
                decided_at=now,
                ledger_index=decision_entry.index,
            )
        proof = await (receipt or self._receipt(decision_entry, deadline))
        if fanned_out is not None:
            self._check_tail(query_id, fanned_out, deadline)
        return QueryAnswer(
            query_id=query_id,
            complete=complete,
            outcomes=outcomes,
            ledger_index=outcome_entry.index,
            ledger_proof=proof,
            flagged_for_review=flagged,
        )

    async def _prove_to_nodes(
        self,
        query_id: str,
        decision: QueryDecision,
        decision_entry: AppendedEntry,
        resolved: Resolved,
        deadline: float,
    ) -> tuple[SearchEvidence | None, str, str | None]:
        """The evidence for the nodes once the decision is in a witnessed checkpoint, or why
        nothing may be sent (fail closed); and that witnessed checkpoint, if one was.

        The evidence is built while the witnesses cosign, against the decision's own batch
        checkpoint: that is the one published unless a later one reached the quorum first
        (then it is built again on that one)."""
        own = decision_entry.checkpoint
        early = asyncio.create_task(
            self._evidence(query_id, own, decision, decision_entry, resolved)
        )
        try:
            checkpoint = await self._witnessing.wait_published(
                decision_entry.index + 1, max(MIN_WITNESS_WAIT_S, self._budget(deadline))
            )
        except Unavailable as exc:
            early.cancel()
            log.warning("query %s not sent: %s", query_id, exc)
            return None, "ledger not witnessed", None
        try:
            if read_checkpoint(checkpoint).size == read_checkpoint(own).size:
                # The same checkpoint, now with its cosignatures: every proof stands.
                return replace(await early, checkpoint=checkpoint), "", checkpoint
            early.cancel()
            return (
                await self._evidence(query_id, checkpoint, decision, decision_entry, resolved),
                "",
                checkpoint,
            )
        except AlprfedError as exc:
            # E.g. an approval whose plate openings were purged: nothing can prove it to a
            # node. The decision still gets its outcome entry.
            log.warning("query %s not sent, no evidence: %s", query_id, exc)
            return None, "the evidence could not be built", checkpoint

    async def _receipt(self, decision_entry: AppendedEntry, deadline: float) -> str:
        """The officer's receipt when no node was asked: the decision entry, proved only on a
        checkpoint the witness quorum cosigned (fail closed: Unavailable past the deadline)."""
        # Only what is left of the deadline: a refusal must reach the officer before it (when
        # the decision's own round already timed out, that is at once).
        published = await self._witnessing.wait_published(
            decision_entry.index + 1, self._budget(deadline)
        )
        return await self._receipt_on(decision_entry, published)

    async def _receipt_on(self, decision_entry: AppendedEntry, published: str) -> str:
        """The decision entry's tlog-proof on ``published``, a witnessed checkpoint."""
        return await asyncio.to_thread(
            partial(self._ledger.tlog_proof, checkpoint=published), decision_entry.index
        )

    async def _evidence(
        self,
        query_id: str,
        checkpoint: str,
        decision: QueryDecision,
        decision_entry: AppendedEntry,
        resolved: Resolved,
    ) -> SearchEvidence:
        """The evidence every permitted node demands (blocking SQL: in a worker thread)."""
        warranted, exigent = decision.authority == "warrant", decision.authority == "exigent"
        return await asyncio.to_thread(
            build_evidence,
            self._evidence_source,
            query_id=query_id,
            checkpoint=checkpoint,
            decision_index=decision_entry.index,
            warrant=resolved.warrant_envelope if warranted else None,
            warrant_index=resolved.warrant_entry if warranted else None,
            approval_index=resolved.approval_entry if exigent else None,
            consent=resolved.approval_consent if exigent else None,
            certificate_chain=resolved.approval_chain if exigent else b"",
        )

    def _resolve(self, query: QueryInput) -> Resolved:
        """Look up the cited warrant or approval (blocking SQL: runs in a worker thread)."""
        if query.warrant_id:
            record = self._registry.get_warrant(query.warrant_id)
            if record is None:
                return Resolved()
            view = record.view(query.plate)
            slot = self._slot(record.ledger_index, query.plate) if view.plate_listed else None
            return Resolved(
                warrant=view,
                warrant_envelope=record.envelope,
                warrant_entry=record.ledger_index,
                warrant_plate_slot=slot,
            )
        if query.exigent_approval_id:
            approval = self._registry.get_approval(query.exigent_approval_id)
            if approval is None:
                return Resolved()
            approval_view = approval.view(query.plate)
            slot = (
                self._slot(approval.ledger_index, query.plate)
                if approval_view.plate_matches
                else None
            )
            return Resolved(
                approval=approval_view,
                approval_consent=approval.consent,
                approval_chain=approval.certificate_chain,
                approval_entry=approval.ledger_index,
                approval_plate_slot=slot,
            )
        return Resolved()

    def _slot(self, entry: int, plate: str) -> int | None:
        key = (entry, plate)
        with self._slots_lock:
            if key in self._slots:
                self._slots.move_to_end(key)
                return self._slots[key]
        slot = self._ledger.match_commitment(entry, plate)
        with self._slots_lock:
            self._slots[key] = slot
            if len(self._slots) > MAX_REMEMBERED_SLOTS:
                self._slots.popitem(last=False)
        return slot

    def _deadline(self, time_remaining: float | None) -> float:
        """The event-loop time by which the answer must be sent."""
        remaining = self._default_timeout
        if time_remaining is not None and time_remaining < NO_DEADLINE:
            remaining = min(remaining, time_remaining)
        return asyncio.get_running_loop().time() + remaining

    def _budget(self, deadline: float) -> float:
        """Seconds the next step may take so the answer still arrives before ``deadline``,
        the work after it sized by the agencies in flight (gateway.budget)."""
        return budget_s(self._in_flight, deadline - asyncio.get_running_loop().time())

    def _check_tail(self, query_id: str, fanned_out: float, deadline: float) -> None:
        """Warn when the work after the fan-out left the answer less than it needs to be
        sent: the reserve (gateway.budget) is too small for this machine's load."""
        now = asyncio.get_running_loop().time()
        if deadline - now < TAIL_WARN_S:
            log.warning(
                "query %s: recorded %.0f ms after its fan-out, %.0f ms before its deadline "
                "(%d agencies in flight): the answer may not arrive in time",
                query_id,
                (now - fanned_out) * 1000,
                (deadline - now) * 1000,
                self._in_flight,
            )

    @staticmethod
    def _outcome(
        agency: Agency | None, agency_id: str, decision: QueryDecision, answer: NodeAnswer | None
    ) -> AgencyOutcome:
        name, state = (agency.name, agency.state) if agency else (agency_id, "")
        decided = decision.for_agency(agency_id)
        if not decided.allowed or answer is None:
            reasons: tuple[Reason, ...] = decided.reasons
            return AgencyOutcome(agency_id, name, state, Outcome.DENIED, reasons=reasons)
        return AgencyOutcome(
            agency_id,
            name,
            state,
            answer.outcome,
            reasons=answer.refusals,
            sightings=answer.sightings,
            receipt=answer.receipt,
            detail=answer.detail,
        )


def _outcome_record(outcome: AgencyOutcome) -> dict[str, JSONValue]:
    return {
        "agency": outcome.agency_id,
        "outcome": outcome.outcome.value,
        "count": len(outcome.sightings),
        "refused_by": [r.rule_id for r in outcome.reasons],
        "receipt": envelope_record(outcome.receipt) if outcome.receipt else None,
        # Bounded, so MAX_TARGETS outcomes always fit one entry (a gRPC error's text is not).
        "detail": outcome.detail[:MAX_RECORDED_DETAIL],
    }
