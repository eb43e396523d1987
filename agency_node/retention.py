"""Retention purge: delete sightings the law says the node may no longer hold, and say so signed.

A run deletes every sighting observed before ``now - retention_seconds``, to the second (New
Hampshire allows three minutes), forgets replay-cache nonces whose queries have expired, and
signs a purge report with the node key. The report goes into the store's durable queue, from
which it is delivered to the gateway's audit ledger; a node that is offline keeps its reports
until the ledger acknowledges them, so oversight bodies see every purge.

The signed report (payload type ``alprfed.signing.PURGE_REPORT_TYPE``, canonical JSON):

    {"v": 1, "node": <agency id>, "state": <two letters>, "cutoff": <Unix s>,
     "retention_seconds": <s>, "deleted_sightings": <count>, "ran_at": <Unix s>}

``cutoff`` is exclusive: sightings observed at or after it are kept.

On PostgreSQL a run also makes the partitions of the coming days, and purges by dropping every
daily partition wholly past retention, then deleting rows in the one day the cutoff falls in
(``agency_node.storage.partitions``).
"""

from __future__ import annotations

import logging
import threading

from agency_node.storage import NodeStore
from alprfed.clock import Clock
from alprfed.messages import PurgeReport
from alprfed.signing import PURGE_REPORT_TYPE, SigningKey

log = logging.getLogger("alprfed.node.retention")

STOP_TIMEOUT_S = 30.0  # how long stop() waits for a run in progress to finish its chunk


class RetentionPurger:
    """Runs the retention purge once, or every ``interval_seconds`` on a background thread."""

    def __init__(
        self,
        store: NodeStore,
        retention_seconds: int,
        clock: Clock,
        *,
        signer: SigningKey,
        node_id: str,
        state: str,
    ) -> None:
        """Raises: ValueError when ``retention_seconds`` is not positive."""
        if retention_seconds <= 0:
            raise ValueError(
                f"retention must be a positive number of seconds, not {retention_seconds}"
            )
        self._store = store
        self._retention_seconds = retention_seconds
        self._clock = clock
        self._signer = signer
        self._node_id = node_id
        self._state = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def retention_seconds(self) -> int:
        return self._retention_seconds

    def run_once(self) -> PurgeReport:
        """Purge, sign the report and queue it for the ledger; return the report.

        Raises:
            sqlalchemy.exc.SQLAlchemyError: the database failed. Chunks deleted before the
                failure stay deleted and no report is queued for this run; the next run's
                report counts only its own deletions, but its cutoff shows what was enforced.
        """
        now = self._clock.now()
        cutoff = now - self._retention_seconds
        self._store.prepare_partitions(now)  # the days ahead, before their reads arrive
        deleted = self._store.purge_before(cutoff)
        forgotten = self._store.forget_expired_nonces(now)
        report = PurgeReport(
            node=self._node_id,
            state=self._state,
            cutoff=cutoff,
            retention_seconds=self._retention_seconds,
            deleted_sightings=deleted,
            ran_at=now,
            forgotten_nonces=forgotten,
        )
        envelope = self._signer.sign_envelope(PURGE_REPORT_TYPE, report.to_canonical())
        self._store.queue_purge_report(
            envelope.payload_type, envelope.payload, envelope.key_id, envelope.signature
        )
        log.info(
            "retention purge: %d sightings observed before %d deleted (retention %d s), "
            "%d expired nonces forgotten",
            deleted,
            cutoff,
            self._retention_seconds,
            forgotten,
        )
        return report

    def start(self, interval_seconds: float) -> None:
        """Run now, then every ``interval_seconds``, on a daemon thread until ``stop()``.

        A failed run is logged and the next one runs on schedule.

        Raises:
            ValueError: the interval is not positive. RuntimeError: already started.
        """
        if interval_seconds <= 0:
            raise ValueError("the purge interval must be positive")
        if self._thread is not None and self._thread.is_alive():
            raise RuntimeError("the retention purger is already running")
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, args=(interval_seconds,), name="alprfed-retention", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        """Stop the background thread; waits at most ``timeout`` for a run in progress."""
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                log.warning("retention purge still running after %.0f s; left to finish", timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self, interval_seconds: float) -> None:
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:  # keep purging on schedule; the next run retries the same work
                log.exception("retention purge failed; retrying in %.0f s", interval_seconds)
            self._stop.wait(interval_seconds)
