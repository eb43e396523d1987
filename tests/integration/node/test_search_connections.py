"""Each search thread keeps a connection of its own (agency_node.storage.thread_connections):
held connections must not starve the pool, and a broken one must not break the thread for good."""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
import sqlalchemy as sa

from agency_node.storage import NodeStore
from agency_node.storage.access import ANSWERED, AccessRecord
from alprfed.models import Camera, Sighting

SightingMaker = Callable[..., Sighting]
SEARCH_THREADS = 24  # more than the SQLite pool's 5 + 10 and PostgreSQL's 20 + 10 hold at once


def test_many_search_threads_leave_the_pool_free_for_the_nodes_other_work(
    store: NodeStore, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store.add_batch(street_cameras, [make_sighting(now - 60)])
    all_searching = threading.Barrier(SEARCH_THREADS + 1)  # and this thread
    found: list[int] = []
    done = threading.Event()

    def search() -> None:
        found.append(len(store.find_rows("7ABC123", now - 3600, now)))
        all_searching.wait(timeout=30)  # every thread holds its connection at once
        done.wait(timeout=30)

    threads = [threading.Thread(target=search) for _ in range(SEARCH_THREADS)]
    for thread in threads:
        thread.start()
    try:
        all_searching.wait(timeout=30)
        # Ingest, retention and the auditors' reads still get pooled connections.
        assert store.count_sightings() == 1
        store.add_batch([], [make_sighting(now - 30)])
    finally:
        done.set()
        for thread in threads:
            thread.join(timeout=30)
    assert found == [1] * SEARCH_THREADS


@pytest.mark.postgres
def test_a_search_after_the_database_dropped_its_connection_connects_again(
    postgres_url: str, street_cameras: list[Camera], make_sighting: SightingMaker, now: int
) -> None:
    store = NodeStore.open(postgres_url)
    try:
        store.add_batch(street_cameras, [make_sighting(now - 60)])
        assert len(store.find_rows("7ABC123", now - 3600, now)) == 1
        # The server ends this thread's search connection (a restart, an administrator);
        # only that one: other engineers' tests share the database server.
        pid = store._threads.run(lambda conn: conn.info.backend_pid)
        with store.engine.connect() as admin:
            ended = admin.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            assert ended.scalar_one() is True

        with pytest.raises(psycopg.OperationalError):
            store.find_rows("7ABC123", now - 3600, now)  # fails once, as a pooled one did
        assert len(store.find_rows("7ABC123", now - 3600, now)) == 1
        record = AccessRecord(received_at=now, outcome=ANSWERED, query_id="q-after-restart")
        assert store.record_access(record)
    finally:
        store.close()
