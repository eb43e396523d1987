"""NodeStore: the agency node's sightings, cameras, replay cache and purge-report queue.

One class over SQLAlchemy Core, the same code on SQLite and PostgreSQL. Every write is one
transaction that either commits whole or leaves nothing behind; writes that must not interleave
(claiming a nonce, upserting a camera) rely on the database's unique keys, never on a read
followed by a write.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from types import TracebackType
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError

from agency_node.storage.access import ANSWERED, MAX_ACCESS_PAGE, AccessRecord
from agency_node.storage.bulk import insert_sightings
from agency_node.storage.migrations import NODE_MIGRATIONS
from agency_node.storage.partitions import (
    day_of,
    drop_partitions_before,
    ensure_days_ahead,
    ensure_partitions,
    lock_partition_ddl,
)
from agency_node.storage.schema import (
    MAX_NONCE,
    access_log,
    cameras,
    purge_reports,
    seen_nonces,
    sightings,
)
from agency_node.storage.statements import (
    FIND_SIGHTINGS,
    access_log_insert,
    camera_upsert,
    nonce_claim,
    purge_chunk_statement,
    query_claim,
)
from agency_node.storage.thread_connections import ThreadConnections
from alprfed.db import DriverStatement, create_engine, dbapi_transaction, reader, writer
from alprfed.errors import FailedPrecondition, InvalidRequest, NotFound, Unavailable
from alprfed.models import Camera, Position, SensitiveSite, Sighting, SightingRow, normalize_plate
from alprfed.signing import Envelope

BULK_CHUNK_ROWS = 20_000  # rows held in memory and sent per COPY / executemany
PURGE_CHUNK_ROWS = 10_000  # rows deleted per transaction, so a purge never holds a long lock
_CAMERA_LOOKUP_CHUNK = 500  # ids per IN (...) list, far below every driver's parameter limit
DEFAULT_PENDING_REPORTS = 100

ProgressCallback = Callable[[int], None]


class _Replayed(Exception):
    """Inside record_access only: a claim failed, so its transaction rolls back."""


class UnknownCamera(InvalidRequest):
    """A sighting names a camera that is neither stored nor part of its batch.

    ``position`` is the 0-based index of the first such sighting in what was submitted.
    """

    def __init__(self, camera_id: str, position: int) -> None:
        super().__init__(
            f"sighting {position} names camera {camera_id!r}, which is neither registered on "
            "this node nor part of the batch",
            field="camera_id",
        )
        self.camera_id = camera_id
        self.position = position


@dataclass(frozen=True)
class QueuedReport:
    """A signed purge report waiting in the queue for delivery to the gateway."""

    id: int
    payload_type: str
    payload: bytes
    key_id: str
    signature: bytes

    @property
    def envelope(self) -> Envelope:
        return Envelope(self.payload_type, self.payload, self.key_id, self.signature)


class NodeStore:
    """The node database. Thread-safe: every call checks out its own pooled connection."""

    def __init__(self, engine: Engine, schema_version: int) -> None:
        """Use ``NodeStore.open``; this wraps an engine whose schema is already current."""
        self._engine = engine
        self._reader = reader(engine)
        self._writer = writer(engine)
        self._postgres = engine.dialect.name == "postgresql"
        self._camera_upsert = camera_upsert(postgres=self._postgres)
        self._find = DriverStatement(FIND_SIGHTINGS, engine.dialect)
        self._nonce_claim = DriverStatement(nonce_claim(postgres=self._postgres), engine.dialect)
        self._claim_query = DriverStatement(query_claim(postgres=self._postgres), engine.dialect)
        self._log_access = DriverStatement(access_log_insert(), engine.dialect)
        # Each search thread's own connection for the lookup and the access record.
        self._threads = ThreadConnections(engine)
        self.schema_version = schema_version

    @property
    def engine(self) -> Engine:
        """For read-only statistics (agency_node.observability) and probes."""
        return self._engine

    @classmethod
    def open(cls, url: str) -> NodeStore:
        """Connect to the database at ``url``, creating or upgrading its schema in place.

        Raises:
            ConfigError: the URL is malformed or names an unsupported database.
            FailedPrecondition: the database is newer than this code or not a node database.
            Unavailable: the database server cannot be reached or the file cannot be opened.
        """
        engine = create_engine(url)
        if engine.dialect.name == "postgresql":
            event.listen(engine, "connect", _plan_each_search)
        try:
            version = NODE_MIGRATIONS.upgrade(engine)
        except OperationalError as exc:
            engine.dispose()
            raise Unavailable(f"cannot open the node database: {exc.orig}") from None
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, version)

    def close(self) -> None:
        """Close every pooled and held connection. The store must not be used afterwards."""
        self._threads.close()
        self._engine.dispose()

    def __enter__(self) -> NodeStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # --- cameras and sightings ----------------------------------------------------------------

    def upsert_cameras(self, new_cameras: Sequence[Camera]) -> int:
        """Insert or replace cameras by id; return how many distinct cameras were written."""
        with self._writer.begin() as conn:
            return self._upsert_cameras(conn, new_cameras)

    def add_batch(self, new_cameras: Sequence[Camera], new_sightings: Sequence[Sighting]) -> None:
        """Store cameras, then sightings, in one transaction: everything or nothing.

        Raises:
            UnknownCamera: (an InvalidRequest) a sighting names a camera that is neither stored
                nor in ``new_cameras``; its ``position`` is the sighting's index.
        """
        self.bulk_load(new_cameras, new_sightings)

    def bulk_load(
        self,
        new_cameras: Sequence[Camera],
        new_sightings: Iterable[Sighting],
        *,
        chunk_rows: int = BULK_CHUNK_ROWS,
        on_progress: ProgressCallback | None = None,
    ) -> int:
        """Store any number of sightings in one transaction through the fast path.

        ``new_sightings`` is consumed in chunks of ``chunk_rows`` so memory stays bounded;
        ``on_progress`` is called with the size of each chunk once it is written (but not yet
        committed). Returns the number of sightings stored: a read already stored (same
        camera, time and plate) or repeated in ``new_sightings`` is skipped, not stored twice.

        Raises:
            UnknownCamera: as in ``add_batch``; ``position`` counts from the first sighting.
        """
        stored = offered = 0
        with self._writer.begin() as conn:
            if self._postgres and isinstance(new_sightings, Sequence):
                # The batch's new days first, before this transaction holds any lock on
                # cameras: attaching a partition locks cameras (its foreign key) against
                # writers, so taking the partition lock after the camera upsert could
                # deadlock with the retention run making tomorrow's partition.
                ensure_partitions(conn, {day_of(s.observed_at) for s in new_sightings})
            elif self._postgres:
                lock_partition_ddl(conn)  # streamed: its days come later (see partitions)
            self._upsert_cameras(conn, new_cameras)
            for chunk in _chunks(new_sightings, chunk_rows):
                self._check_cameras_known(conn, chunk, first_position=offered)
                stored += insert_sightings(conn, chunk)
                offered += len(chunk)
                if on_progress is not None:
                    on_progress(len(chunk))
        return stored

    def known_camera_ids(self, camera_ids: Iterable[str]) -> set[str]:
        """Which of ``camera_ids`` are registered on this node."""
        return set(self.registered_cameras(camera_ids))

    def registered_cameras(self, camera_ids: Iterable[str]) -> dict[str, Camera]:
        """The cameras of ``camera_ids`` registered on this node, by id."""
        found: dict[str, Camera] = {}
        ordered = sorted(set(camera_ids))
        with self._reader.connect() as conn:
            for i in range(0, len(ordered), _CAMERA_LOOKUP_CHUNK):
                part = ordered[i : i + _CAMERA_LOOKUP_CHUNK]
                rows = conn.execute(sa.select(cameras).where(cameras.c.camera_id.in_(part)))
                for row in rows:
                    found[row.camera_id] = Camera(
                        camera_id=row.camera_id,
                        name=row.name,
                        position=Position(row.lat_e6, row.lon_e6),
                        sensitive_site=SensitiveSite(row.sensitive_site)
                        if row.sensitive_site
                        else None,
                    )
        return found

    def find_sightings(self, plate: str, start: int, end: int) -> list[Sighting]:
        """Sightings of ``plate`` observed in [start, end], ordered by (observed_at, id).

        Each carries its database id and its camera's sensitive-site category.

        Raises:
            InvalidPlate: ``plate`` does not normalize to a plate.
        """
        return [Sighting.from_row(row) for row in self.find_rows(plate, start, end)]

    def find_rows(self, plate: str, start: int, end: int) -> list[SightingRow]:
        """``find_sightings`` as search rows (``alprfed.models.SIGHTING_ROW``), for the search's
        hot path, on the calling thread's own connection.

        Raises:
            InvalidPlate: ``plate`` does not normalize to a plate.
        """
        params = {"plate": normalize_plate(plate), "start": start, "end": end}
        return self._threads.run(lambda conn: self._find.run(conn, params))

    def count_sightings(self) -> int:
        with self._reader.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(sightings)).scalar_one())

    def purge_before(self, cutoff: int, *, chunk_rows: int = PURGE_CHUNK_ROWS) -> int:
        """Delete every sighting observed before ``cutoff``; return how many were deleted.

        Deletes in transactions of at most ``chunk_rows`` rows, so searches and ingest keep
        running while a large backlog is purged. On PostgreSQL every day wholly before the
        cutoff is dropped as a partition first; rows are deleted only in the cutoff's own day.
        """
        statement = purge_chunk_statement(chunk_rows, postgres=self._postgres)
        deleted = drop_partitions_before(self._engine, cutoff) if self._postgres else 0
        while True:
            with self._writer.begin() as conn:
                count = conn.execute(statement, {"cutoff": cutoff}).rowcount
            deleted += count
            if count < chunk_rows:
                return deleted

    def prepare_partitions(self, now: int) -> list[int]:
        """PostgreSQL: partitions for today and the next days, so a live feed meets no DDL.

        Returns the days created (none on SQLite, which is not partitioned)."""
        if not self._postgres:
            return []
        with self._writer.begin() as conn:
            return ensure_days_ahead(conn, now)

    # --- search replay cache ------------------------------------------------------------------

    def claim_nonce(self, nonce: str, expires_at: int) -> bool:
        """Record ``nonce`` until ``expires_at``; False if it was recorded before.

        Atomic: the nonce is the primary key, so of two concurrent claims exactly one wins.

        Raises:
            InvalidRequest: the nonce is empty or longer than the cache stores.
        """
        if not 0 < len(nonce) <= MAX_NONCE:
            raise InvalidRequest(f"nonce must be 1 to {MAX_NONCE} characters", field="nonce")
        # The reader: no transaction of SQLAlchemy's; the claim commits as its own.
        with self._reader.connect() as conn:
            return bool(self._nonce_claim.write(conn, {"nonce": nonce, "expires_at": expires_at}))

    def forget_expired_nonces(self, now: int) -> int:
        """Drop nonces whose queries expired before ``now``; return how many were dropped."""
        statement = sa.delete(seen_nonces).where(seen_nonces.c.expires_at < now)
        with self._writer.begin() as conn:
            return int(conn.execute(statement).rowcount)

    # --- the access log ----------------------------------------------------------------------

    def record_access(self, record: AccessRecord, *, nonce: tuple[str, int] | None = None) -> bool:
        """Append ``record`` to the access log; an answer first claims its query id and, given
        ``nonce`` (the query's nonce and the time until which to keep it), that nonce in the
        replay cache. False (and nothing written) when either was claimed before: one logged
        decision buys one answer from this node, and one signed query one search.

        One transaction straight on the driver (this runs on every search): the claims and
        the record commit together, so a crash leaves all or none, and a search pays one
        commit (a WAL flush on PostgreSQL), not one for the nonce and one for the record.

        Raises:
            InvalidRequest: an answer without a query id, or a malformed nonce.
        """
        answered = record.outcome == ANSWERED
        if answered and not record.query_id:
            raise InvalidRequest("an answer names its query id", field="query_id")
        if nonce is not None and not 0 < len(nonce[0]) <= MAX_NONCE:
            raise InvalidRequest(f"nonce must be 1 to {MAX_NONCE} characters", field="nonce")
        row = record.to_row()

        def claim_and_record(conn: Any) -> None:
            with dbapi_transaction(conn, sqlite=not self._postgres):
                if answered and not self._claim_query.run(conn, {"query_id": record.query_id}):
                    raise _Replayed  # rolls back: nothing was written
                if nonce is not None and not self._nonce_claim.run(
                    conn, {"nonce": nonce[0], "expires_at": nonce[1]}
                ):
                    raise _Replayed  # rolls back the query id's claim too
                self._log_access.run(conn, row)

        try:
            self._threads.run(claim_and_record)
        except _Replayed:
            return False
        return True

    def access_log(self, *, after: int = 0, limit: int = 1000) -> list[AccessRecord]:
        """Access-log records with ``seq > after``, oldest first, at most ``limit``."""
        query = (
            sa.select(access_log)
            .where(access_log.c.seq > after)
            .order_by(access_log.c.seq)
            .limit(max(1, min(limit, MAX_ACCESS_PAGE)))
        )
        with self._reader.connect() as conn:
            return [AccessRecord.from_row(dict(row._mapping)) for row in conn.execute(query)]

    # --- purge-report queue -------------------------------------------------------------------

    def queue_purge_report(
        self, payload_type: str, payload: bytes, key_id: str, signature: bytes
    ) -> int:
        """Queue a signed purge report for delivery; return its queue id."""
        statement = purge_reports.insert().values(
            payload_type=payload_type, payload=payload, key_id=key_id, signature=signature
        )
        with self._writer.begin() as conn:
            key = conn.execute(statement).inserted_primary_key
        assert key is not None  # an INSERT of one row always reports its primary key
        return int(key[0])

    def pending_purge_reports(self, limit: int = DEFAULT_PENDING_REPORTS) -> list[QueuedReport]:
        """Undelivered reports, oldest first."""
        statement = (
            sa.select(
                purge_reports.c.id,
                purge_reports.c.payload_type,
                purge_reports.c.payload,
                purge_reports.c.key_id,
                purge_reports.c.signature,
            )
            .where(purge_reports.c.ledger_index.is_(None))
            .order_by(purge_reports.c.id)
            .limit(limit)
        )
        with self._reader.connect() as conn:
            rows = conn.execute(statement).all()
        return [
            QueuedReport(
                row.id, row.payload_type, bytes(row.payload), row.key_id, bytes(row.signature)
            )
            for row in rows
        ]

    def mark_purge_report_delivered(self, report_id: int, ledger_index: int) -> None:
        """Record that the ledger holds report ``report_id`` at ``ledger_index``.

        Idempotent for the same index, so a delivery retried after a lost answer is harmless.

        Raises:
            NotFound: no report has this id.
            FailedPrecondition: the report was already recorded at a different ledger index.
        """
        with self._writer.begin() as conn:
            recorded = conn.execute(
                sa.select(purge_reports.c.ledger_index).where(purge_reports.c.id == report_id)
            ).one_or_none()
            if recorded is None:
                raise NotFound(f"no purge report {report_id} in the queue")
            if recorded.ledger_index is None:
                conn.execute(
                    purge_reports.update()
                    .where(purge_reports.c.id == report_id)
                    .values(ledger_index=ledger_index)
                )
            elif recorded.ledger_index != ledger_index:
                raise FailedPrecondition(
                    f"purge report {report_id} was already delivered at ledger index "
                    f"{recorded.ledger_index}, not {ledger_index}"
                )

    # --- helpers ------------------------------------------------------------------------------

    def _upsert_cameras(self, conn: sa.Connection, new_cameras: Sequence[Camera]) -> int:
        # Last one wins within a batch, as it would across batches; PostgreSQL refuses to touch
        # one row twice in a statement, so duplicates go before the database sees them.
        latest = {camera.camera_id: camera for camera in new_cameras}
        if not latest:
            return 0
        statement = self._camera_upsert
        conn.execute(statement, [_camera_row(camera) for camera in latest.values()])
        return len(latest)

    def _check_cameras_known(
        self, conn: sa.Connection, batch: Sequence[Sighting], *, first_position: int
    ) -> None:
        wanted = {sighting.camera_id for sighting in batch}
        missing = wanted - self._known_camera_ids(conn, wanted)
        if missing:
            for offset, sighting in enumerate(batch):
                if sighting.camera_id in missing:
                    raise UnknownCamera(sighting.camera_id, first_position + offset)

    @staticmethod
    def _known_camera_ids(conn: sa.Connection, wanted: set[str]) -> set[str]:
        found: set[str] = set()
        ordered = sorted(wanted)
        for i in range(0, len(ordered), _CAMERA_LOOKUP_CHUNK):
            part = ordered[i : i + _CAMERA_LOOKUP_CHUNK]
            found.update(
                conn.execute(
                    sa.select(cameras.c.camera_id).where(cameras.c.camera_id.in_(part))
                ).scalars()
            )
        return found


def _camera_row(camera: Camera) -> dict[str, object]:
    return {
        "camera_id": camera.camera_id,
        "name": camera.name,
        "lat_e6": camera.position.latitude_e6,
        "lon_e6": camera.position.longitude_e6,
        "sensitive_site": camera.sensitive_site.value if camera.sensitive_site else None,
    }


def _chunks(items: Iterable[Sighting], size: int) -> Iterator[list[Sighting]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _plan_each_search(dbapi_connection: Any, _record: Any) -> None:
    """Plan every statement for its own parameters on this node connection (PostgreSQL).

    psycopg prepares a statement after a few runs, and PostgreSQL then switches to a generic
    plan; on the daily-partitioned sightings a generic plan cannot prune at plan time, so it
    covers every partition (about 100 ms to build per connection at a year of days) and runs
    slower. A custom plan prunes to the window's days: on the city benchmark (100M reads,
    365 partitions) search p50 7.2 -> 4.0 ms and p99 13.0 -> 8.1 ms (docs/PERFORMANCE.md).
    """
    with dbapi_connection.cursor() as cursor:
        cursor.execute("SET plan_cache_mode = force_custom_plan")
    dbapi_connection.commit()
