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

Beside it: gateway.authority (the lookup of the cited warrant or approval), gateway.outcomes
(each agency's outcome, answered and logged), gateway.deadlines (what each step may take of
the deadline), gateway.cancellation (why a cancelled call does not stop its query).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from collections.abc import Awaitable
from dataclasses import replace
from functools import partial
from typing import Protocol, TypeVar

from alprfed import canonical
from alprfed.clock import Clock
from alprfed.errors import AlprfedError, Unavailable
from alprfed.ledger import AppendedEntry
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.messages import Outcome, Requester, SearchQuery
from alprfed.messages.evidence import SearchEvidence
from alprfed.observability.metrics import GatewayMetrics
from alprfed.policy.bundle import LoadedPolicy
from alprfed.policy.decision import QueryDecision, QueryFacts
from alprfed.query import AgencyOutcome, QueryAnswer, QueryInput, query_targets
from alprfed.rpc.identity import Identity
from alprfed.signing import SEARCH_QUERY_TYPE, SigningKey
from gateway.audit import AuditTrail
from gateway.authority import AuthorityResolver, CommitmentMatcher, Resolved
from gateway.cancellation import UnfinishedWork
from gateway.deadlines import DEADLINE_PASSED, FanOutWindow, QueryDeadlines
from gateway.evidence import EvidenceSource, build_evidence
from gateway.fanout import NodeAnswer, NodePool, fan_out
from gateway.observability import report_answer
from gateway.outcomes import agency_outcome, outcome_record
from gateway.policy_state import PolicyHolder
from gateway.registry import GatewayRegistry

log = logging.getLogger("alprfed.gateway.query")
T = TypeVar("T")

QUERY_LIFETIME_S = 60  # how long a node may accept the signed query
MIN_WITNESS_WAIT_S = 1.0  # what a query waits at least for its decision to be witnessed


class Witnessing(Protocol):
    """gateway.witnessing: when a checkpoint covering an entry is published."""

    async def wait_published(self, size: int, timeout_s: float) -> str: ...


class LedgerReader(EvidenceSource, CommitmentMatcher, Protocol):
    """What the service reads back from the ledger (alprfed.ledger.LedgerStore has these)."""

    def tlog_proof(self, index: int, *, checkpoint: str | None = None) -> str: ...


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
        self._authority = AuthorityResolver(registry, ledger)
        self._deadlines = QueryDeadlines(default_timeout_s)
        self._unfinished = UnfinishedWork()  # queries under way, cut off or not

    def check_targets(self, query: QueryInput) -> None:
        """Raises: InvalidRequest when ``query`` would address more agencies than one query
        may (``alprfed.query.query_targets``): checked before the query is taken, so the
        refusal is logged as a rejected request."""
        query_targets(query, [a.agency_id for a in self._policy.current.federation.nodes()])

    async def query(
        self, identity: Identity, query: QueryInput, time_remaining: float | None
    ) -> QueryAnswer:
        """The answer to ``query`` from the officer ``identity``, due within
        ``time_remaining`` seconds (the call's; None or gRPC's "none": the default timeout).

        Raises:
            asyncio.CancelledError: the call was cancelled (its deadline passed, or the
                officer hung up); the query still runs on to its outcome entry.
            Unavailable: the decision entry could not be witnessed in time, or too many
                queries are under way (nothing is logged then).
            LedgerError: the ledger could not record (nothing further is done or answered).
        """
        if self._unfinished.full:  # callers that hang up at once would pile up queries
            raise Unavailable("the gateway has too many queries under way; try again")
        deadline = self._deadlines.deadline(time_remaining)
        loaded = self._policy.current
        targets = query_targets(query, [a.agency_id for a in loaded.federation.nodes()])
        # The officer's deadline cancels this call; it must not cancel the query, or its
        # decision entry (logged once its batch began, even with its caller gone) could be
        # left without an outcome entry: cancelled while it waits for the witnesses or the
        # nodes, or while its outcome entry waits in the ledger writer's queue, where a
        # cancelled caller's entry is dropped (gateway.cancellation says what bounds it).
        return await self._unfinished.run(
            self._counted(len(targets), self._query(identity, query, loaded, targets, deadline)),
            "the query",  # the log line carries the call's request id
        )

    async def run_to_end(self, work: Awaitable[T], what: str) -> T:
        """``work`` (a call's ledger entry) run to its end even if the call is cancelled."""
        return await self._unfinished.run(work, what)

    async def finish_cancelled(self) -> None:
        """Wait for the queries the stop cut off to run to their end: as long as a query may
        take (the default timeout, the witness wait) and a few seconds of database more."""
        await self._unfinished.finish(self._deadlines.longest_s + MIN_WITNESS_WAIT_S + 5.0)

    async def _counted(self, targets: int, work: Awaitable[QueryAnswer]) -> QueryAnswer:
        """``work``, a query to ``targets`` agencies, counted in flight while it runs."""
        with self._deadlines.taken(targets):
            return await work

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
        resolved = await asyncio.to_thread(self._authority.resolve, query)
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
        window: FanOutWindow | None = None  # the fan-out's, once there was one
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
        if permitted and evidence is not None and self._deadlines.passed(deadline):
            not_sent = DEADLINE_PASSED  # no node releases sightings to a caller who is gone
        if permitted and evidence is not None and not not_sent:
            # Not signed as a whole: each part carries its own signature, which is all a
            # node relies on (docs/PROTOCOL.md, "The evidence a node demands").
            bundle = canonical.encode(evidence.to_canonical())
            window = self._deadlines.fan_out_window(deadline, self._per_node_timeout)
            for answer in await fan_out(
                self._pool,
                permitted,
                envelope,
                bundle,
                query_id=query_id,
                timeout_s=window.timeout_s,
            ):
                answers[answer.agency.agency_id] = answer
            window.ended = asyncio.get_running_loop().time()

        if not_sent:
            answers = {
                agency_id: NodeAnswer(
                    federation.agencies[agency_id], Outcome.UNAVAILABLE, detail=not_sent
                )
                for agency_id in decision.permitted
            }
        outcomes = tuple(
            agency_outcome(
                federation.agencies.get(agency_id), agency_id, decision, answers.get(agency_id)
            )
            for agency_id in targets
        )
        complete = all(o.outcome in (Outcome.RESULTS, Outcome.DENIED) for o in outcomes)
        report_answer(self._metrics, query_id, outcomes, complete, listed=federation.agencies)
        flagged = decision.authority == "exigent" and bool(permitted)
        outcome_entry = await self._log_outcome(
            query_id,
            decision_entry,
            outcomes,
            complete=complete,
            flagged=flagged,
            window=window,
            deadline=deadline,
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
        if window is not None:
            self._deadlines.check_tail(query_id, window, deadline)
        return QueryAnswer(
            query_id=query_id,
            complete=complete,
            outcomes=outcomes,
            ledger_index=outcome_entry.index,
            ledger_proof=proof,
            flagged_for_review=flagged,
        )

    async def _log_outcome(
        self,
        query_id: str,
        decision_entry: AppendedEntry,
        outcomes: tuple[AgencyOutcome, ...],
        *,
        complete: bool,
        flagged: bool,
        window: FanOutWindow | None,
        deadline: float,
    ) -> AppendedEntry:
        """The query_outcome entry, committed; its time after the fan-out is what the
        reserve of later fan-outs follows (measured even when the query was cancelled)."""
        entry = await self._audit.query_outcome(
            query_id=query_id,
            decision_entry=decision_entry,
            outcomes=[outcome_record(o) for o in outcomes],
            complete=complete,
            flagged_for_review=flagged,
            answered_at=self._clock.now(),
        )
        if window is not None:
            self._deadlines.outcome_logged(query_id, window, deadline)
        return entry

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
                decision_entry.index + 1, max(MIN_WITNESS_WAIT_S, self._deadlines.budget(deadline))
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
            decision_entry.index + 1, self._deadlines.budget(deadline)
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
