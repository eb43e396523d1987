"""Deliver the node's signed purge reports to the gateway's ledger, and keep trying.

Reports wait in the node database's durable queue (agency_node.retention puts them there) until
the gateway answers ``ReportPurge`` with the ledger index that holds them. A gateway that is down
costs nothing but delay: the next round delivers the backlog, oldest first. Delivering the same
report twice is harmless (the queue records one ledger index per report).
"""

from __future__ import annotations

import logging
import threading

import grpc

from agency_node.storage import NodeStore
from alprfed import wire
from alprfed.config import TLSConfig
from alprfed.rpc.tls import secure_channel
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc

log = logging.getLogger("alprfed.node.purge_delivery")

DELIVERY_INTERVAL_S = 15.0
DELIVERY_TIMEOUT_S = 10.0


class PurgeReportDelivery:
    def __init__(self, store: NodeStore, *, gateway_address: str, tls: TLSConfig) -> None:
        self._store = store
        self._address = gateway_address
        self._tls = tls
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._channel: grpc.Channel | None = None

    def deliver_pending(self) -> int:
        """Send every queued report, oldest first; stop at the first failure. Returns how many
        the ledger acknowledged."""
        if self._channel is None:
            self._channel = secure_channel(self._address, self._tls)
        stub = gateway_pb2_grpc.GatewayStub(self._channel)
        delivered = 0
        for report in self._store.pending_purge_reports():
            try:
                reply = stub.ReportPurge(
                    gateway_pb2.ReportPurgeRequest(report=wire.envelope_to_pb(report.envelope)),
                    timeout=DELIVERY_TIMEOUT_S,
                )
            except grpc.RpcError as exc:
                log.warning(
                    "purge report %d not delivered (%s); will retry",
                    report.id,
                    exc.code().name if hasattr(exc, "code") else exc,
                )
                break
            self._store.mark_purge_report_delivered(report.id, reply.ledger_index)
            delivered += 1
        return delivered

    def start(self, interval_s: float = DELIVERY_INTERVAL_S) -> None:
        self._thread = threading.Thread(
            target=self._loop, args=(interval_s,), name="purge-delivery", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=DELIVERY_TIMEOUT_S + 5)
        if self._channel is not None:
            self._channel.close()

    def _loop(self, interval_s: float) -> None:
        while not self._stop.wait(interval_s):
            try:
                self.deliver_pending()
            except Exception:  # a bad round must not end delivery for good
                log.exception("purge report delivery failed; will retry")
