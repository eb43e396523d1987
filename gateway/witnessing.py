"""Getting the ledger's checkpoints cosigned by independent witnesses (C2SP tlog-witness).

A single signer could show one history to one auditor and another to the next (a split
view). So the gateway publishes a checkpoint -- builds receipts and evidence on it, serves it
to auditors and tile clients -- only once a quorum of witnesses (the witness policy, in C2SP
tlog-policy form) has cosigned it. Each witness remembers the newest checkpoint it cosigned
and cosigns a new one only with a consistency proof from that one, so no two checkpoints the
quorum cosigned can disagree.

One task per witness submits the newest signed checkpoint whenever the log grows: each
witness must be asked in order (its ``old`` size must be its latest), witnesses run in
parallel, and a slow one only skips the checkpoints it had no time for. A failing witness is
retried with exponential backoff; a 409 teaches the task the witness's real size. Every
cosignature is verified before it counts. A checkpoint that reaches the quorum is published
(cosignatures appended to its note): at once to this gateway's readers and waiters
(``LedgerStore.announce``), stored in the background; later cosignatures of the published
checkpoint are stored too, for monitors. Waiters (a query about to answer) wake when a
published checkpoint covers their entry, or fail after their deadline with the state of every
witness.

Rounds are coalesced: a checkpoint a waiter needs is submitted at once, any other only after
``COALESCE_DELAY_S`` (or with the next one a waiter needs), so under load each query's
decision round also witnesses the previous query's outcome instead of queueing behind it.

A round a waiter needs is hedged: it asks at once only the fewest witnesses that meet the
quorum, those that answered fastest lately (and are not failing); the others are asked when
one of those fails, or when they take ``HEDGE_FACTOR`` times their usual answer time, and
otherwise cosign the head in the next round nobody waits for. Which witnesses are asked first
changes nothing of what a publication proves -- it still carries a quorum's cosignatures, each
verified -- but on shared cores every witness process the round starts is one more the query
waits behind (docs/PERFORMANCE.md, "Witnessing on a query"). The consistency proofs come from
the writer's memory of the subtrees it appended lately (alprfed.ledger.recent_nodes) when it
has them.
"""

from __future__ import annotations

import asyncio
import logging
import math
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from alprfed.errors import LedgerError, Unavailable
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.cosignature import add_signature_lines
from alprfed.ledger.note import parse_note
from alprfed.ledger.witness_policy import PolicyWitness, WitnessPolicy
from gateway.publication import BackgroundPublication
from gateway.witness_client import WitnessConflict, WitnessFailure, submit_checkpoint, verified_line

log = logging.getLogger("alprfed.gateway.witnessing")

DEFAULT_REQUEST_TIMEOUT_S = 2.0
MIN_BACKOFF_S, MAX_BACKOFF_S = 0.1, 5.0
# A publication is stored this long after it is reached (with the late cosignatures by then):
# past the query it released, whose outcome entry would otherwise wait for that write.
PUBLICATION_DELAY_S = 0.05
# A checkpoint no query waits for (a query's outcome, a registration) is submitted after this
# delay, so that a newer checkpoint -- the next query's decision -- can share its round; a
# round the witnesses are busy with would otherwise delay the next waiter by a whole round.
COALESCE_DELAY_S = 0.2
# A round a query waits for asks first the fewest witnesses that make the quorum, those that
# answered fastest lately; the others are asked too once the first take HEDGE_FACTOR times
# their usual answer time (within the bounds), or at once when one of them fails. Sharing the
# gateway's cores, every witness asked is a process the round waits for a core behind.
HEDGE_FACTOR = 2.0
MIN_HEDGE_S, MAX_HEDGE_S = 0.005, 0.25
ANSWER_SMOOTHING = 0.2  # weight of the newest answer in a witness's usual answer time


class WitnessedStore(Protocol):
    """What witnessing needs of the ledger (alprfed.ledger.LedgerStore has it)."""

    def head_checkpoint(self) -> str: ...

    def latest_checkpoint(self) -> str: ...

    def consistency_proof(self, old_size: int, new_size: int) -> list[bytes]: ...

    def recent_consistency_proof(self, old_size: int, new_size: int) -> list[bytes] | None: ...

    def announce(self, size: int, note: str) -> None: ...

    def publish(self, size: int, lines: Sequence[str]) -> bool: ...


@dataclass
class WitnessState:
    """What the gateway knows of one witness, for its log and for error messages."""

    name: str
    size: int | None = None  # the size it last cosigned (None: not yet known)
    last_error: str = ""
    cosigned: int = 0
    answer_s: float = 0.0  # its usual answer time (smoothed), proof to verified cosignature
    asking: bool = False  # a request to it is under way (a hung one may not have failed yet)


class CheckpointWitnessing:
    """Collects cosignatures for the ledger's checkpoints and publishes those at quorum."""

    def __init__(
        self,
        store: WitnessedStore,
        policy: WitnessPolicy,
        *,
        ssl_context: ssl.SSLContext | None = None,
        request_timeout_s: float = DEFAULT_REQUEST_TIMEOUT_S,
        coalesce_delay_s: float = COALESCE_DELAY_S,
        on_published: Callable[[float], None] | None = None,
    ) -> None:
        """``on_published`` gets, for each publication, the seconds from the signing of the
        published checkpoint to its reaching the quorum (the gateway's metrics)."""
        self._coalesce_delay_s = coalesce_delay_s
        self._store = store
        self._on_published = on_published
        self._signed_at: dict[int, float] = {}  # size -> when its checkpoint was signed
        self._policy = policy
        self._ssl = ssl_context
        self._timeout = request_timeout_s
        self._witnesses = list(policy.witnesses.values())
        self.states = {w.name: WitnessState(w.name) for w in self._witnesses}
        self._head_note = ""
        self._head_size = -1
        self._head_text = ""  # the head checkpoint's text, what cosignatures sign
        self._published_note = ""
        self._published_size = -1
        self._collected: dict[int, dict[str, str]] = {}  # size -> witness -> cosignature line
        self._wake = {w.name: asyncio.Event() for w in self._witnesses}
        self._wanted = -1  # the largest size a waiter has asked to see published
        self._deferred_wake: asyncio.TimerHandle | None = None
        self._hedge: asyncio.TimerHandle | None = None  # asks the rest if the first are slow
        # Set (and replaced) at every publication: waiters wake and check their size.
        self._published_changed = asyncio.Event()
        # One computation per (old, new), shared by the witnesses asking for it at once.
        self._proofs: dict[tuple[int, int], asyncio.Future[list[bytes]]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._publication = BackgroundPublication(store, self._publication_to_store)

    @property
    def published_size(self) -> int:
        return self._published_size

    async def start(self) -> None:
        """Read the log's head and publication, and start one task per witness."""
        self.checkpoint_signed(await asyncio.to_thread(self._store.head_checkpoint))
        self._published_note = await asyncio.to_thread(self._store.latest_checkpoint)
        self._published_size = read_checkpoint(self._published_note).size
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._ssl if self._ssl is not None else True)
        )
        for witness in self._witnesses:
            self._wake[witness.name].set()
            self._tasks.append(
                asyncio.create_task(self._run(witness), name=f"witness-{witness.name}")
            )

    async def stop(self) -> None:
        """Stop asking witnesses; store what was published (what readers were shown)."""
        self._cancel_timers()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._publication.flush()
        if self._session is not None:
            await self._session.close()

    def checkpoint_signed(self, note: str) -> None:
        """The writer committed a batch under ``note``: ask the witnesses to cosign it, at
        once if a waiter needs it, else after the coalescing delay (called on the event loop)."""
        checkpoint = read_checkpoint(note)
        if checkpoint.size > self._head_size:
            self._head_note, self._head_size = note, checkpoint.size
            self._head_text = parse_note(note).text
            self._signed_at[checkpoint.size] = time.perf_counter()
            if self._wanted > self._published_size:
                self._wake_quorum()
            elif not self._tasks:
                self._wake_all()
            else:
                self._defer_round()

    def _defer_round(self) -> None:
        """A round nobody waits for: every witness, after the coalescing delay."""
        if self._deferred_wake is None:
            self._deferred_wake = asyncio.get_running_loop().call_later(
                self._coalesce_delay_s, self._wake_all
            )

    def _wake_quorum(self) -> None:
        """A round a waiter needs: the quorum's fastest witnesses now, the others hedged."""
        first = self._quorum_first()
        self._wake_witnesses(first)
        rest = [name for name in self.states if name not in first]
        if rest and self._hedge is None:
            usual = max(self.states[name].answer_s for name in first)
            delay = min(MAX_HEDGE_S, max(MIN_HEDGE_S, HEDGE_FACTOR * usual))
            self._hedge = asyncio.get_running_loop().call_later(delay, self._wake_all)

    def _quorum_first(self) -> list[str]:
        """The shortest run of witnesses, best first, that meets the quorum: those idle and
        not failing before the others, then the fastest lately (never measured: last)."""
        ranked = sorted(
            self.states.values(),
            key=lambda s: (bool(s.last_error), s.asking, s.answer_s or math.inf),
        )
        chosen: list[str] = []
        for state in ranked:
            if self._policy.quorum_met(chosen):
                break
            chosen.append(state.name)
        return chosen

    def _wake_all(self) -> None:
        self._cancel_timers()
        self._wake_witnesses(list(self.states))

    def _cancel_timers(self) -> None:
        for timer in (self._deferred_wake, self._hedge):
            if timer is not None:
                timer.cancel()
        self._deferred_wake = self._hedge = None

    def _wake_witnesses(self, names: Sequence[str]) -> None:
        for name in names:
            self._wake[name].set()
        # The consistency proofs the woken tasks will send, started now: on a worker thread
        # before whatever the waiter's caller starts next (the query's evidence), instead of
        # one loop turn later in each task.
        for name in names:
            state = self.states[name]
            if state.size is not None and 0 < state.size < self._head_size:
                self._proof_future(state.size, self._head_size)

    async def wait_published(self, size: int, timeout_s: float) -> str:
        """The published checkpoint once it covers ``size`` entries.

        Raises:
            Unavailable: no checkpoint covering them reached the quorum within ``timeout_s``;
                the message gives the state of every witness.
        """
        if size > self._published_size and size > self._wanted:
            self._wanted = size
            if size <= self._head_size:  # signed already: its round must not wait
                self._wake_quorum()
        try:
            async with asyncio.timeout(timeout_s):
                while self._published_size < size:
                    await self._published_changed.wait()
        except TimeoutError:
            raise Unavailable(
                f"the ledger could not be witnessed: no checkpoint of {size} or more entries "
                f"reached the witness quorum {self._policy.describe_quorum()} within "
                f"{timeout_s:g} s ({self.describe()})"
            ) from None
        return self._published_note

    def reachable_quorum(self) -> str | None:
        """None when the witnesses whose last answer was a cosignature meet the quorum, else
        why not (the gateway's readiness probe)."""
        answering = [
            s.name for s in self.states.values() if s.size is not None and not s.last_error
        ]
        if self._policy.quorum_met(answering):
            return None
        return f"witness quorum {self._policy.describe_quorum()} not reachable ({self.describe()})"

    def describe(self) -> str:
        parts = []
        for state in self.states.values():
            where = f"cosigned size {state.size}" if state.size is not None else "no cosignature"
            error = f", {state.last_error}" if state.last_error else ""
            parts.append(f"{state.name}: {where}{error}")
        return "; ".join(parts)

    # --- one task per witness ---------------------------------------------------------------

    async def _run(self, witness: PolicyWitness) -> None:
        state, wake = self.states[witness.name], self._wake[witness.name]
        backoff = MIN_BACKOFF_S
        while True:
            await wake.wait()
            wake.clear()
            note, text, size = self._head_note, self._head_text, self._head_size
            if (
                state.size == size
                and witness.name in self._collected.get(size, {})
                and self._published_size >= size
            ):
                continue  # nothing new for this witness (an unpublished size is retried)
            try:
                await self._submit(witness, state, note, text, size)
                backoff = MIN_BACKOFF_S
            except WitnessConflict as conflict:
                if conflict.size > size:
                    state.last_error = (
                        f"it cosigned size {conflict.size}, beyond this log's {size}: the "
                        "witness saw another history (a fork or a rolled-back database)"
                    )
                    log.error("witness %s: %s", witness.name, state.last_error)
                    if self._wanted > self._published_size:
                        self._wake_all()  # a waiter's round lost a witness: do not wait
                    await asyncio.sleep(backoff)
                    backoff = min(MAX_BACKOFF_S, backoff * 2)
                else:
                    if state.size == conflict.size:  # it said so before: do not hammer it
                        await asyncio.sleep(backoff)
                        backoff = min(MAX_BACKOFF_S, backoff * 2)
                    state.size = conflict.size  # learnt its real size; retry
                wake.set()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a task that died would leave this witness unasked
                if not isinstance(exc, (WitnessFailure, LedgerError)):
                    log.exception("witness %s: unexpected failure", witness.name)
                state.last_error = str(exc)
                if self._wanted > self._published_size:
                    self._wake_all()  # a waiter's round lost a witness: do not wait to hedge
                log.warning("witness %s: %s (retrying in %.1f s)", witness.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)
                wake.set()

    async def _submit(
        self, witness: PolicyWitness, state: WitnessState, note: str, text: str, size: int
    ) -> None:
        assert self._session is not None
        old = state.size if state.size is not None and state.size <= size else 0
        asked = time.perf_counter()
        state.asking = True
        try:
            proof = await self._proof(old, size)
            lines = await submit_checkpoint(
                self._session,
                witness.url,
                old_size=old,
                proof=proof,
                note=note,
                timeout_s=self._timeout,
            )
        finally:
            state.asking = False
        line = verified_line(text, lines, witness)
        answered = time.perf_counter() - asked
        usual = state.answer_s
        state.answer_s = usual + ANSWER_SMOOTHING * (answered - usual) if usual else answered
        state.size, state.last_error = size, ""
        state.cosigned += 1
        self._collected.setdefault(size, {})[witness.name] = line
        self._maybe_publish(size, note)

    def _proof_future(self, old: int, new: int) -> asyncio.Future[list[bytes]]:
        """The consistency proof from ``old`` to ``new``: one computation shared by every
        witness that needs it -- from the writer's memory at once when it holds the subtrees
        (between recent sizes, the usual round), else on a worker thread, submitted at once."""
        key = (old, new)
        if key not in self._proofs:
            if len(self._proofs) > 64:
                self._proofs = {k: f for k, f in self._proofs.items() if not f.done()}
            loop = asyncio.get_running_loop()
            recent = self._store.recent_consistency_proof(old, new)
            if recent is not None:
                done: asyncio.Future[list[bytes]] = loop.create_future()
                done.set_result(recent)
                self._proofs[key] = done
                return done
            future = loop.run_in_executor(None, self._store.consistency_proof, old, new)
            # Retrieved even if no witness ends up sending it (a failure is logged by _run).
            future.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._proofs[key] = future
        return self._proofs[key]

    async def _proof(self, old: int, new: int) -> list[bytes]:
        if old in (0, new):
            return []
        future = self._proof_future(old, new)
        try:
            return await asyncio.shield(future)  # one witness's cancellation is not the others'
        except LedgerError:
            self._proofs.pop((old, new), None)  # a storage failure is retried, not remembered
            raise

    def _maybe_publish(self, size: int, note: str) -> None:
        """Publish ``note`` (the checkpoint of ``size`` as signed) once its cosignatures meet
        the quorum; add a later cosignature of the published checkpoint for monitors.

        Published at once to this gateway's readers (``announce``) and waiters; stored in the
        background, so no query waits for that write."""
        collected = self._collected.get(size, {})
        if size < self._published_size:
            return
        if size == self._published_size:
            # A straggler: nobody waits for it, monitors get it. Stored a little later with
            # any others by then, so queries do not queue behind a write per late witness.
            self._publication.store_soon(PUBLICATION_DELAY_S)
            return
        if not self._policy.quorum_met(collected):
            return
        published = add_signature_lines(note, collected.values())
        self._store.announce(size, published)
        self._published_note, self._published_size = published, size
        for older in [s for s in self._collected if s < size]:
            del self._collected[older]
        signed_at = self._signed_at.pop(size, None)
        for older in [s for s in self._signed_at if s < size]:
            del self._signed_at[older]
        if signed_at is not None and self._on_published is not None:
            self._on_published(time.perf_counter() - signed_at)
        # Not written at once: the write is not flushed anyway (LedgerStore.publish), and at
        # once it ran beside the fan-out this publication releases, taking the append lock
        # the query's outcome entry needs next; a moment later it also carries the stragglers.
        self._publication.store_soon(PUBLICATION_DELAY_S)
        if self._hedge is not None and self._published_size >= self._wanted:
            # The first witnesses made it: the others catch up in a round nobody waits for.
            self._hedge.cancel()
            self._hedge = None
            self._defer_round()
        log.debug("published checkpoint %d, cosigned by %s", size, ", ".join(sorted(collected)))
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        changed, self._published_changed = self._published_changed, asyncio.Event()
        changed.set()

    def _publication_to_store(self) -> tuple[int, list[str]]:
        """The published size and every cosignature collected for it (stored in the background)."""
        size = self._published_size
        return size, list(self._collected.get(size, {}).values())
