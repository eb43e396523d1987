"""The gateway's operational records: registered warrants, exigent approvals, flagged queries.

These tables hold plates in clear (a warrant must list its plates; an approval names one), so
they live in the gateway's own database and never in the audit ledger, which records only
commitments. They share the ledger's database URL but have their own tables and schema version
(gateway.registry_schema). Each act is written by an ``Effect`` the ledger runs in the
transaction of the act's entry, so the registry and the ledger never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprfed import canonical
from alprfed.db import create_engine, reader, writer
from alprfed.errors import ActRecordedMeanwhile, AlreadyExists, NotFound
from alprfed.ledger.entry import Effect
from alprfed.messages.consent import EXIGENT_CONSENT_TYPE
from alprfed.models import Purpose
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import Warrant, WarrantView
from alprfed.signing import Envelope
from gateway.registry_schema import (
    MIGRATIONS,
    approvals,
    consents,
    exigent_queries,
    published_bundles,
    purge_reports,
    warrants,
)


@dataclass(frozen=True)
class WarrantRecord:
    warrant: Warrant
    envelope: Envelope
    registered_at: int
    registered_by: str
    ledger_index: int
    revoked_at: int | None
    revoked_reason: str | None
    revoked_by: str | None = None

    def view(self, plate: str) -> WarrantView:
        w = self.warrant
        return WarrantView(
            warrant_id=w.warrant_id,
            court=w.court,
            agency=w.agency,
            window=w.window,
            offense=w.offense,
            limits=w.limits,
            issued_at=w.issued_at,
            expires_at=w.expires_at,
            revoked_at=self.revoked_at,
            plate_listed=plate in w.plates,
            prospective=w.prospective,
        )


@dataclass(frozen=True)
class ApprovalRecord:
    approval_id: str
    agency: str
    officer: str
    supervisor: str
    plate: str
    purpose: Purpose
    case_number: str
    created_at: int
    expires_at: int
    ledger_index: int
    consent: Envelope | None = None  # signed by the supervisor's own certificate key
    certificate_chain: bytes = b""

    def view(self, plate: str) -> ApprovalView:
        return ApprovalView(
            approval_id=self.approval_id,
            agency=self.agency,
            officer=self.officer,
            supervisor=self.supervisor,
            purpose=self.purpose,
            case_number=self.case_number,
            created_at=self.created_at,
            expires_at=self.expires_at,
            plate_matches=plate == self.plate,
        )


class GatewayRegistry:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._writer = writer(engine)
        # Lookups are single SELECTs: no BEGIN/ROLLBACK round trips (a query resolves its
        # warrant on the hot path).
        self._reads = reader(engine)

    @classmethod
    def open(cls, url: str) -> GatewayRegistry:
        engine = create_engine(url)
        MIGRATIONS.upgrade(engine)
        return cls(engine)

    def close(self) -> None:
        self._engine.dispose()

    # --- warrants ---------------------------------------------------------------------------

    @staticmethod
    def warrant_insert(
        warrant: Warrant, envelope: Envelope, *, registered_at: int, registered_by: str
    ) -> Effect:
        """The registration, to commit in the transaction of its ledger entry."""

        def insert(conn: sa.Connection, ledger_index: int) -> None:
            conn.execute(
                warrants.insert().values(
                    warrant_id=warrant.warrant_id,
                    payload_type=envelope.payload_type,
                    payload=envelope.payload,
                    key_id=envelope.key_id,
                    signature=envelope.signature,
                    registered_at=registered_at,
                    registered_by=registered_by,
                    ledger_index=ledger_index,
                )
            )

        return insert

    def get_warrant(self, warrant_id: str) -> WarrantRecord | None:
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(warrants).where(warrants.c.warrant_id == warrant_id)
            ).first()
        if row is None:
            return None
        envelope = Envelope(row.payload_type, bytes(row.payload), row.key_id, bytes(row.signature))
        # The payload was verified against the court key when it was registered.
        return WarrantRecord(
            warrant=Warrant.from_canonical(canonical.decode(row.payload)),
            envelope=envelope,
            registered_at=row.registered_at,
            registered_by=row.registered_by,
            ledger_index=row.ledger_index,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
            revoked_by=row.revoked_by,
        )

    @staticmethod
    def warrant_revocation(
        warrant_id: str, *, revoked_at: int, revoked_by: str, reason: str
    ) -> Effect:
        """The revocation, to commit in the transaction of its ledger entry.

        Raises (when run): ActRecordedMeanwhile if it was revoked since the act was checked
        (only another replica can: acts are decided one at a time within a gateway), so the
        gateway checks the act again rather than failing the batch it shares.
        """

        def update(conn: sa.Connection, ledger_index: int) -> None:
            updated = conn.execute(
                warrants.update()
                .where(warrants.c.warrant_id == warrant_id, warrants.c.revoked_at.is_(None))
                .values(
                    revoked_at=revoked_at,
                    revoked_by=revoked_by,
                    revoked_reason=reason,
                    revoke_ledger_index=ledger_index,
                )
            ).rowcount
            if updated != 1:
                raise ActRecordedMeanwhile(
                    f"warrant {warrant_id} was revoked by another gateway meanwhile; "
                    "it was not logged again"
                )

        return update

    # --- exigent approvals and their review -------------------------------------------------

    @staticmethod
    def approval_insert(record: ApprovalRecord) -> Effect:
        """The approval (its ``ledger_index`` is the entry's), to commit with its entry."""

        def insert(conn: sa.Connection, ledger_index: int) -> None:
            conn.execute(
                approvals.insert().values(
                    approval_id=record.approval_id,
                    agency=record.agency,
                    officer=record.officer,
                    supervisor=record.supervisor,
                    plate=record.plate,
                    purpose=record.purpose.value,
                    case_number=record.case_number,
                    created_at=record.created_at,
                    expires_at=record.expires_at,
                    ledger_index=ledger_index,
                )
            )
            if record.consent is not None:
                conn.execute(
                    consents.insert().values(
                        approval_id=record.approval_id,
                        payload=record.consent.payload,
                        key_id=record.consent.key_id,
                        signature=record.consent.signature,
                        certificate_chain=record.certificate_chain,
                    )
                )

        return insert

    def approval_with_consent(self, consent: Envelope) -> str | None:
        """The approval an identical signed consent was already accepted for, if any."""
        with self._reads.connect() as conn:
            found = conn.execute(
                sa.select(consents.c.approval_id).where(
                    consents.c.payload == consent.payload,
                    consents.c.signature == consent.signature,
                )
            ).first()
        return None if found is None else str(found.approval_id)

    def get_approval(self, approval_id: str) -> ApprovalRecord | None:
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(approvals).where(approvals.c.approval_id == approval_id)
            ).first()
            signed = conn.execute(
                sa.select(consents).where(consents.c.approval_id == approval_id)
            ).first()
        if row is None:
            return None
        consent = (
            None
            if signed is None
            else Envelope(
                EXIGENT_CONSENT_TYPE, bytes(signed.payload), signed.key_id, bytes(signed.signature)
            )
        )
        return ApprovalRecord(
            row.approval_id,
            row.agency,
            row.officer,
            row.supervisor,
            row.plate,
            Purpose(row.purpose),
            row.case_number,
            row.created_at,
            row.expires_at,
            row.ledger_index,
            consent,
            bytes(signed.certificate_chain) if signed is not None else b"",
        )

    def flag_exigent_query(
        self,
        *,
        query_id: str,
        approval_id: str,
        agency: str,
        officer: str,
        decided_at: int,
        ledger_index: int,
    ) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                exigent_queries.insert().values(
                    query_id=query_id,
                    approval_id=approval_id,
                    agency=agency,
                    officer=officer,
                    decided_at=decided_at,
                    ledger_index=ledger_index,
                )
            )

    def check_reviewable(self, query_id: str) -> str:
        """The agency whose exigent query this is.

        Raises: NotFound (no such flagged query), AlreadyExists (reviewed before).
        """
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(exigent_queries.c.reviewed_at, exigent_queries.c.agency).where(
                    exigent_queries.c.query_id == query_id
                )
            ).first()
        if row is None:
            raise NotFound(f"query {query_id} is not an exigent query awaiting review")
        if row.reviewed_at is not None:
            raise AlreadyExists(f"exigent query {query_id} was already reviewed")
        return str(row.agency)

    @staticmethod
    def review_record(query_id: str, *, upheld: bool, reviewer: str, reviewed_at: int) -> Effect:
        """The review, to commit in the transaction of its ledger entry.

        Raises (when run): ActRecordedMeanwhile (an AlreadyExists) if the query was reviewed
        meanwhile by another replica; only this entry is dropped from its batch.
        """

        def update(conn: sa.Connection, ledger_index: int) -> None:
            updated = conn.execute(
                exigent_queries.update()
                .where(
                    exigent_queries.c.query_id == query_id,
                    exigent_queries.c.reviewed_at.is_(None),
                )
                .values(
                    reviewed_at=reviewed_at,
                    upheld=upheld,
                    reviewer=reviewer,
                    review_ledger_index=ledger_index,
                )
            ).rowcount
            if updated != 1:
                raise ActRecordedMeanwhile(f"exigent query {query_id} was already reviewed")

        return update

    def pending_reviews(self) -> list[str]:
        with self._reads.connect() as conn:
            return list(
                conn.execute(
                    sa.select(exigent_queries.c.query_id)
                    .where(exigent_queries.c.reviewed_at.is_(None))
                    .order_by(exigent_queries.c.decided_at)
                ).scalars()
            )

    # --- node purge reports -----------------------------------------------------------------

    def purge_report(self, node: str, ran_at: int) -> tuple[str, int] | None:
        """The payload SHA-256 and ledger index of the report ``node`` sent for its run at
        ``ran_at``, if one was accepted."""
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(purge_reports.c.payload_sha256, purge_reports.c.ledger_index).where(
                    purge_reports.c.node == node, purge_reports.c.ran_at == ran_at
                )
            ).first()
        return None if row is None else (str(row.payload_sha256), int(row.ledger_index))

    @staticmethod
    def purge_report_insert(node: str, ran_at: int, payload_sha256: str) -> Effect:
        """The accepted report, to commit in the transaction of its ledger entry."""

        def insert(conn: sa.Connection, ledger_index: int) -> None:
            conn.execute(
                purge_reports.insert().values(
                    node=node,
                    ran_at=ran_at,
                    payload_sha256=payload_sha256,
                    ledger_index=ledger_index,
                )
            )

        return insert

    # --- published policy bundles -----------------------------------------------------------

    def last_published(self) -> tuple[str, dict[str, str]] | None:
        """The digest and key fingerprints of the policy bundle most recently published."""
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(published_bundles)
                .order_by(published_bundles.c.ledger_index.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return row.bundle_sha256, canonical.decode(row.keys.encode("utf-8"))

    def record_published(
        self, *, bundle_sha256: str, keys: dict[str, str], ledger_index: int, published_at: int
    ) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                published_bundles.insert().values(
                    ledger_index=ledger_index,
                    bundle_sha256=bundle_sha256,
                    keys=canonical.encode(keys).decode("utf-8"),
                    published_at=published_at,
                )
            )
