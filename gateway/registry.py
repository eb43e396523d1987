"""The gateway's operational records: registered warrants, exigent approvals, flagged queries.

These tables hold plates in clear (a warrant must list its plates; an approval names one), so
they live in the gateway's own database and never in the audit ledger, which records only
commitments. They share the ledger's database URL but have their own tables and schema version.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from alprfed import canonical
from alprfed.db import Migration, Migrations, create_engine, reader, writer
from alprfed.errors import AlreadyExists, FailedPrecondition, NotFound
from alprfed.messages.consent import EXIGENT_CONSENT_TYPE
from alprfed.models import Purpose
from alprfed.policy.exigent import ApprovalView
from alprfed.policy.warrants import Warrant, WarrantView
from alprfed.signing import Envelope

metadata = sa.MetaData()

warrants = sa.Table(
    "gateway_warrants",
    metadata,
    sa.Column("warrant_id", sa.String(64), primary_key=True),
    sa.Column("payload_type", sa.String(128), nullable=False),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("registered_at", sa.BigInteger, nullable=False),
    sa.Column("registered_by", sa.String(200), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("revoked_at", sa.BigInteger, nullable=True),
    sa.Column("revoked_by", sa.String(200), nullable=True),
    sa.Column("revoked_reason", sa.String(500), nullable=True),
    sa.Column("revoke_ledger_index", sa.BigInteger, nullable=True),
)

approvals = sa.Table(
    "gateway_exigent_approvals",
    metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("agency", sa.String(64), nullable=False),
    sa.Column("officer", sa.String(64), nullable=False),
    sa.Column("supervisor", sa.String(64), nullable=False),
    sa.Column("plate", sa.String(16), nullable=False),
    sa.Column("purpose", sa.String(64), nullable=False),
    sa.Column("case_number", sa.String(64), nullable=False),
    sa.Column("created_at", sa.BigInteger, nullable=False),
    sa.Column("expires_at", sa.BigInteger, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)

exigent_queries = sa.Table(
    "gateway_exigent_queries",
    metadata,
    sa.Column("query_id", sa.String(64), primary_key=True),
    sa.Column("approval_id", sa.String(64), nullable=False),
    sa.Column("agency", sa.String(64), nullable=False),
    sa.Column("officer", sa.String(64), nullable=False),
    sa.Column("decided_at", sa.BigInteger, nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
    sa.Column("reviewed_at", sa.BigInteger, nullable=True),
    sa.Column("upheld", sa.Boolean, nullable=True),
    sa.Column("reviewer", sa.String(200), nullable=True),
    sa.Column("review_ledger_index", sa.BigInteger, nullable=True),
)

published_bundles = sa.Table(
    "gateway_published_bundles",
    metadata,
    sa.Column("ledger_index", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("bundle_sha256", sa.String(64), nullable=False),
    sa.Column("keys", sa.Text, nullable=False),  # canonical JSON: role -> public key text
    sa.Column("published_at", sa.BigInteger, nullable=False),
)

# The supervisor's signed consent behind each approval, for the evidence nodes demand.
consents = sa.Table(
    "gateway_exigent_consents",
    metadata,
    sa.Column("approval_id", sa.String(64), primary_key=True),
    sa.Column("payload", sa.LargeBinary, nullable=False),
    sa.Column("key_id", sa.String(64), nullable=False),
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("certificate_chain", sa.LargeBinary, nullable=False),
)

_V1_TABLES = (warrants, approvals, exigent_queries, published_bundles)
_TABLES = (*_V1_TABLES, consents)


def _create_v1(conn: sa.Connection) -> None:
    for table in _V1_TABLES:
        table.create(conn)


def _create_consents(conn: sa.Connection) -> None:
    consents.create(conn)


MIGRATIONS = Migrations(
    store="gateway registry",
    version_table="gateway_schema_version",
    tables=[t.name for t in _TABLES],
    migrations=[
        Migration(1, "warrants, exigent approvals, flagged queries, published bundles", _create_v1),
        Migration(2, "supervisors' signed consents to exigent queries", _create_consents),
    ],
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

    def has_warrant(self, warrant_id: str) -> bool:
        with self._reads.connect() as conn:
            return (
                conn.execute(
                    sa.select(warrants.c.warrant_id).where(warrants.c.warrant_id == warrant_id)
                ).first()
                is not None
            )

    def add_warrant(
        self,
        warrant: Warrant,
        envelope: Envelope,
        *,
        registered_at: int,
        registered_by: str,
        ledger_index: int,
    ) -> None:
        """Raises: AlreadyExists."""
        with self._writer.begin() as conn:
            try:
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
            except sa.exc.IntegrityError:
                raise AlreadyExists(f"warrant {warrant.warrant_id} is already registered") from None

    def get_warrant(self, warrant_id: str) -> WarrantRecord | None:
        with self._reads.connect() as conn:
            row = conn.execute(
                sa.select(warrants).where(warrants.c.warrant_id == warrant_id)
            ).first()
        if row is None:
            return None
        envelope = Envelope(row.payload_type, row.payload, row.key_id, row.signature)
        # The payload was verified against the court key when it was registered.
        return WarrantRecord(
            warrant=Warrant.from_canonical(canonical.decode(row.payload)),
            envelope=envelope,
            registered_at=row.registered_at,
            registered_by=row.registered_by,
            ledger_index=row.ledger_index,
            revoked_at=row.revoked_at,
            revoked_reason=row.revoked_reason,
        )

    def check_revocable(self, warrant_id: str) -> WarrantRecord:
        """Raises: NotFound, FailedPrecondition (already revoked)."""
        record = self.get_warrant(warrant_id)
        if record is None:
            raise NotFound(f"warrant {warrant_id} is not registered")
        if record.revoked_at is not None:
            raise FailedPrecondition(f"warrant {warrant_id} is already revoked")
        return record

    def revoke_warrant(
        self, warrant_id: str, *, revoked_at: int, revoked_by: str, reason: str, ledger_index: int
    ) -> None:
        with self._writer.begin() as conn:
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
            raise FailedPrecondition(f"warrant {warrant_id} is not revocable")

    # --- exigent approvals and their review -------------------------------------------------

    def add_approval(self, record: ApprovalRecord) -> None:
        with self._writer.begin() as conn:
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
                    ledger_index=record.ledger_index,
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

    def record_review(
        self, query_id: str, *, upheld: bool, reviewer: str, reviewed_at: int, ledger_index: int
    ) -> None:
        with self._writer.begin() as conn:
            conn.execute(
                exigent_queries.update()
                .where(exigent_queries.c.query_id == query_id)
                .values(
                    reviewed_at=reviewed_at,
                    upheld=upheld,
                    reviewer=reviewer,
                    review_ledger_index=ledger_index,
                )
            )

    def pending_reviews(self) -> list[str]:
        with self._reads.connect() as conn:
            return list(
                conn.execute(
                    sa.select(exigent_queries.c.query_id)
                    .where(exigent_queries.c.reviewed_at.is_(None))
                    .order_by(exigent_queries.c.decided_at)
                ).scalars()
            )

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
