"""Retention purge on a real database: to the second, signed, queued, and on a thread."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest

from agency_node.retention import RetentionPurger
from agency_node.storage import NodeStore
from alprfed.canonical import decode
from alprfed.clock import FixedClock
from alprfed.messages import PurgeReport
from alprfed.models import Camera, Sighting
from alprfed.signing import PURGE_REPORT_TYPE, SigningKey, keyring, open_envelope

SightingMaker = Callable[..., Sighting]
NEW_HAMPSHIRE_RETENTION_S = 180  # RSA 261:75-b: three minutes unless the plate is a hit


def purger(store: NodeStore, clock: FixedClock, key: SigningKey, retention: int) -> RetentionPurger:
    return RetentionPurger(store, retention, clock, signer=key, node_id="concord-pd", state="NH")


def wait_until(condition: Callable[[], bool], what: str, limit_s: float = 20.0) -> None:
    """Poll for a condition a background thread brings about (no timing is asserted)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.01)


def test_purge_is_exact_to_the_second(
    store: NodeStore,
    street_cameras: list[Camera],
    make_sighting: SightingMaker,
    clock: FixedClock,
    node_key: SigningKey,
) -> None:
    now = clock.now()
    ages = (181, 180, 179)
    store.add_batch(street_cameras, [make_sighting(now - age) for age in ages])
    run = purger(store, clock, node_key, NEW_HAMPSHIRE_RETENTION_S)

    first = run.run_once()

    assert first == PurgeReport(
        node="concord-pd",
        state="NH",
        cutoff=now - 180,
        retention_seconds=180,
        deleted_sightings=1,
        ran_at=now,
    )
    assert [s.observed_at for s in store.find_sightings("7ABC123", 0, now)] == [
        now - 180,
        now - 179,
    ]

    clock.advance(1)
    assert run.run_once().deleted_sightings == 1
    assert [s.observed_at for s in store.find_sightings("7ABC123", 0, now)] == [now - 179]


def test_report_is_signed_by_the_node_and_queued(
    store: NodeStore, clock: FixedClock, node_key: SigningKey
) -> None:
    report = purger(store, clock, node_key, 3600).run_once()

    (queued,) = store.pending_purge_reports()
    payload = open_envelope(
        queued.envelope, payload_type=PURGE_REPORT_TYPE, keys=keyring(node_key.public)
    )
    assert payload == report.to_canonical()
    assert decode(queued.payload) == {
        "v": 1,
        "node": "concord-pd",
        "state": "NH",
        "cutoff": clock.now() - 3600,
        "retention_seconds": 3600,
        "deleted_sightings": 0,
        "ran_at": clock.now(),
    }


def test_expired_nonces_are_forgotten_by_the_run(
    store: NodeStore, clock: FixedClock, node_key: SigningKey
) -> None:
    store.claim_nonce("aa" * 16, clock.now() - 1)
    store.claim_nonce("bb" * 16, clock.now() + 30)

    report = purger(store, clock, node_key, 3600).run_once()

    assert report.forgotten_nonces == 1
    assert store.claim_nonce("bb" * 16, clock.now() + 30) is False


def test_retention_must_be_positive(
    store: NodeStore, clock: FixedClock, node_key: SigningKey
) -> None:
    with pytest.raises(ValueError, match="positive"):
        purger(store, clock, node_key, 0)


def test_background_thread_purges_repeatedly_and_stops(
    store: NodeStore, clock: FixedClock, node_key: SigningKey
) -> None:
    run = purger(store, clock, node_key, 3600)

    run.start(interval_seconds=0.01)
    wait_until(lambda: len(store.pending_purge_reports()) >= 3, "three purge runs")
    run.stop()

    assert not run.running
    settled = len(store.pending_purge_reports())
    run.stop()  # stopping twice is harmless
    assert len(store.pending_purge_reports()) == settled


class FailingOnceClock(FixedClock):
    """A clock whose first reading fails, as a flaky dependency would."""

    def __init__(self, now: int) -> None:
        super().__init__(now)
        self.failed = False

    def now(self) -> int:
        if not self.failed:
            self.failed = True
            raise OSError("clock source unavailable")
        return super().now()


def test_background_thread_survives_a_failed_run(
    store: NodeStore, node_key: SigningKey, caplog: pytest.LogCaptureFixture
) -> None:
    clock = FailingOnceClock(1_764_000_000)
    run = RetentionPurger(store, 60, clock, signer=node_key, node_id="concord-pd", state="NH")

    with caplog.at_level(logging.ERROR, logger="alprfed.node.retention"):
        run.start(interval_seconds=0.01)
        wait_until(lambda: len(store.pending_purge_reports()) >= 1, "a run after the failure")
        run.stop()

    assert clock.failed
    assert "retention purge failed" in caplog.text
    assert not run.running


def test_starting_twice_is_refused(
    store: NodeStore, clock: FixedClock, node_key: SigningKey
) -> None:
    run = purger(store, clock, node_key, 3600)
    run.start(interval_seconds=60)
    try:
        with pytest.raises(RuntimeError, match="already running"):
            run.start(interval_seconds=60)
    finally:
        run.stop()
    assert not run.running
