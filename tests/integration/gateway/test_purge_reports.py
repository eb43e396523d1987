"""A node's retention purge reaches the gateway's ledger, signed by the node's key."""

from __future__ import annotations

from pathlib import Path

from federations import DAY, start_federation, stop_federation

from agency_node.purge_delivery import PurgeReportDelivery
from agency_node.storage import NodeStore
from alprfed.config import load_node_config
from alprfed.ledger import iter_entries
from alprfed.ledger.reader import LedgerReader


def test_purge_reports_are_delivered_to_the_ledger_and_dequeued(tmp_path: Path) -> None:
    federation = start_federation(tmp_path / "fed")
    try:
        # Norfolk's node purged at start: Virginia keeps 21 days, the synthetic data spans 40.
        config = load_node_config(federation.layout.node_config("norfolk-pd"))
        with NodeStore.open(config.database_url) as store:
            queued = store.pending_purge_reports()
            delivery = PurgeReportDelivery(
                store, gateway_address=config.gateway_address, tls=config.tls
            )
            try:
                delivered = delivery.deliver_pending()
                left = store.pending_purge_reports()
            finally:
                delivery.stop()
        reader = LedgerReader.open_readonly(
            f"sqlite:///{federation.layout.gateway_config.parent / 'gateway.db'}"
        )
        try:
            purges = list(iter_entries(reader, kinds=["retention_purge"]))
        finally:
            reader.close()
    finally:
        stop_federation(federation)
    assert queued
    assert delivered == len(queued)
    assert left == []
    assert len(purges) == delivered
    first = purges[0].body
    assert (first["node"], first["state"]) == ("norfolk-pd", "VA")
    assert first["retention_seconds"] == 21 * DAY
    assert first["deleted_sightings"] > 0
    assert first["report"]["payload"]["cutoff"] == first["cutoff"]
