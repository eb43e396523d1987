"""The gateway registry's tables and their migrations (SQLAlchemy Core, SQLite and PostgreSQL).

They share the ledger's database (each act's row commits in the transaction of its ledger
entry) but have their own version table. To change them, append a migration; never edit one
that has shipped.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from alprfed.migrate import AlembicStore, LegacyVersions

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

# Every node purge report the ledger recorded, by node and run: a report is accepted once,
# and sent again (a node retrying after a lost answer) it gets the same entry back.
purge_reports = sa.Table(
    "gateway_purge_reports",
    metadata,
    sa.Column("node", sa.String(64), primary_key=True),
    sa.Column("ran_at", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("payload_sha256", sa.String(64), nullable=False),
    sa.Column("ledger_index", sa.BigInteger, nullable=False),
)

_V1_TABLES = (warrants, approvals, exigent_queries, published_bundles)
_TABLES = (*_V1_TABLES, consents, purge_reports)


def create_v1(conn: sa.Connection) -> None:
    for table in _V1_TABLES:
        table.create(conn)


def create_consents(conn: sa.Connection) -> None:
    consents.create(conn)


def create_purge_reports(conn: sa.Connection) -> None:
    purge_reports.create(conn)


MIGRATIONS = AlembicStore(
    store="gateway",
    name="gateway registry",
    versions=Path(__file__).resolve().parent / "versions",
    legacy=LegacyVersions("gateway_schema_version", tuple(t.name for t in _TABLES)),
)
