"""kill -9 a real gateway process under concurrent load, restart it, and audit what it kept.

Clerks in several threads register court-signed warrants and revoke some of them, as fast as
the gateway answers, each retrying the very same request until it is answered (what a client
does after a timeout or a crash), while an officer queries under those warrants. The gateway
process (`alprfed gateway serve`) is killed with
SIGKILL while they run, and started again. At the end, from the database alone:

- every acknowledged act is in the ledger at the index it was acknowledged with (none lost),
  an answered query's outcome included;
- every warrant sent is registered exactly once and every revocation logged exactly once, and
  the ledger holds no act nobody sent and no query outcome without its decision (no
  duplicate, no phantom);
- the registry holds exactly what the ledger says took effect, and nothing else;
- the whole ledger verifies (entries, tree, every stored subtree, every checkpoint);
- no client was refused other than by the gateway being down, and no process logged a
  traceback or answered INTERNAL.

CI kills it 3 times; ``--soak`` 60 times.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import faults
import grpc
import pytest
import sqlalchemy as sa

from alprfed import canonical, wire
from alprfed.db import create_engine
from alprfed.demo.layout import Layout
from alprfed.demo.processes import FederationProcesses
from alprfed.ledger import iter_entries
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.verify import verify_ledger
from alprfed.rpc.tls import secure_channel
from alprfed.signing import Envelope, SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from gateway.registry_schema import warrants

CLERKS = 4
CI_KILLS, SOAK_KILLS = 3, 60
ACKS_BETWEEN_KILLS = 6  # acknowledged acts (at least) between one restart and the next kill
CALL_TIMEOUT_S = 10
RETRY_PAUSE_S = 0.05
RETRYABLE = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)  # the gateway is down


@dataclass
class Acts:
    """What the clerks sent and what the gateway acknowledged, shared by their threads."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: set[str] = field(default_factory=set)
    registered: dict[str, int] = field(default_factory=dict)  # warrant id -> ledger index
    revoked: set[str] = field(default_factory=set)  # acknowledged revocations
    revoke_sent: set[str] = field(default_factory=set)
    answered: dict[str, int] = field(default_factory=dict)  # query id -> outcome entry index
    unexpected: list[str] = field(default_factory=list)  # refusals other than "the gateway is down"

    def acknowledged(self) -> int:
        with self.lock:
            return len(self.registered) + len(self.revoked) + len(self.answered)


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return faults.small_layout(tmp_path / "fed")


@pytest.fixture
def gateway(layout: Layout) -> Iterator[FederationProcesses]:
    processes = FederationProcesses(layout)
    try:  # a gateway that is not ready in time is stopped too, not left running
        processes.start_gateway()
        processes.wait_ready("gateway", layout.gateway_address, "alprfed.v1.Gateway")
        yield processes
    finally:
        processes.stop_all()


def refused(acts: Acts, who: str, exc: grpc.RpcError) -> None:
    """Record a refusal no client should get under kills (the thread then stops)."""
    faults.refused_unexpectedly(exc.code())
    with acts.lock:
        acts.unexpected.append(f"{who}: {exc.code().name}: {exc.details()}")


def until_answered(stop: threading.Event, method: Any, request: Any) -> Any:
    """Send the same request until the gateway answers it; None if told to stop first."""
    while not stop.is_set():
        try:
            return method(request, timeout=CALL_TIMEOUT_S)
        except grpc.RpcError as exc:
            if exc.code() not in RETRYABLE:
                raise
            time.sleep(RETRY_PAUSE_S)
    return None


# ``send(method name, request)``: the answer, or None once told to stop.
Send = Callable[[str, Any], Any]


def clerk(layout: Layout, acts: Acts, stop: threading.Event, seed: int) -> None:
    channel = secure_channel(layout.gateway_address, faults.clerk_tls(layout))
    stub = gateway_pb2_grpc.GatewayStub(channel)
    try:
        clerk_acts(layout, acts, stop, seed, lambda m, r: until_answered(stop, getattr(stub, m), r))
    except grpc.RpcError as exc:
        refused(acts, f"clerk {seed}", exc)
    finally:
        channel.close()


def clerk_acts(layout: Layout, acts: Acts, stop: threading.Event, seed: int, send: Send) -> None:
    """Register warrants and revoke some, recording what was sent and acknowledged."""
    chooser = random.Random(seed)
    key = SigningKey.load(layout.court_key(faults.COURT))
    while not stop.is_set():
        envelope = faults.sign_warrant(key, int(time.time()))
        # Built once: a retry sends exactly these bytes again.
        request = gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope))
        name = envelope_id(envelope)
        with acts.lock:
            acts.sent.add(name)
        status = send("RegisterWarrant", request)
        if status is None:
            return
        with acts.lock:
            acts.registered[name] = status.ledger_index
        if chooser.random() < 0.3:
            revoke = gateway_pb2.RevokeWarrantRequest(warrant_id=name, reason="case closed")
            with acts.lock:
                acts.revoke_sent.add(name)
            if send("RevokeWarrant", revoke) is None:
                return
            with acts.lock:
                acts.revoked.add(name)


def officer(layout: Layout, acts: Acts, stop: threading.Event) -> None:
    """Queries under a registered warrant; an answered query's outcome must be in the ledger
    (a query lost to a kill is not retried: a new query is a new act)."""
    channel = secure_channel(
        layout.gateway_address, faults.principal_tls(layout, "sjpd", "officer-garcia")
    )
    stub = gateway_pb2_grpc.GatewayStub(channel)
    try:
        while not stop.is_set():
            with acts.lock:
                warrants = sorted(acts.registered)
            if not warrants:
                time.sleep(RETRY_PAUSE_S)
                continue
            request = faults.warrant_query(warrants[-1], int(time.time()))
            try:
                answer = stub.Query(request, timeout=CALL_TIMEOUT_S)
            except grpc.RpcError as exc:
                if exc.code() not in RETRYABLE:
                    refused(acts, "officer", exc)
                    return
                time.sleep(RETRY_PAUSE_S)
                continue
            with acts.lock:
                acts.answered[answer.query_id] = answer.ledger_index
    finally:
        channel.close()


def envelope_id(envelope: Envelope) -> str:
    return str(canonical.decode(envelope.payload)["warrant_id"])


def wait_for_acks(acts: Acts, at_least: int, clerks: list[threading.Thread]) -> None:
    deadline = time.monotonic() + 120
    while acts.acknowledged() < at_least:
        assert not acts.unexpected, acts.unexpected
        assert all(t.is_alive() for t in clerks), "a clerk thread died"
        assert time.monotonic() < deadline, "the gateway acknowledged nothing for 2 minutes"
        time.sleep(0.02)


def test_killed_gateways_lose_no_acknowledged_act_and_log_none_twice(
    layout: Layout, gateway: FederationProcesses, soak: bool
) -> None:
    kills = SOAK_KILLS if soak else CI_KILLS
    acts, stop = Acts(), threading.Event()
    clerks = [
        threading.Thread(target=clerk, args=(layout, acts, stop, seed), daemon=True)
        for seed in range(CLERKS)
    ]
    clerks.append(threading.Thread(target=officer, args=(layout, acts, stop), daemon=True))
    for thread in clerks:
        thread.start()
    try:
        for _ in range(kills):
            wait_for_acks(acts, acts.acknowledged() + ACKS_BETWEEN_KILLS, clerks)
            faults.add(kills_tried=1)
            gateway.kill("gateway")  # SIGKILL, mid-load
            gateway.start_gateway()
            gateway.wait_ready("gateway", layout.gateway_address, "alprfed.v1.Gateway")
            faults.add(kills_survived=1)
        wait_for_acks(acts, acts.acknowledged() + ACKS_BETWEEN_KILLS, clerks)
    finally:
        stop.set()
        for thread in clerks:
            thread.join(timeout=CALL_TIMEOUT_S * 3)
    gateway.stop_all()
    assert not acts.unexpected, acts.unexpected
    audit(layout, acts)
    assert faults.scan_logs(faults.service_logs(layout)) == []


def audit(layout: Layout, acts: Acts, url: str | None = None) -> None:
    """Check the ledger and registry at ``url`` (default: the layout's SQLite gateway.db)."""
    url = url or f"sqlite:///{layout.gateway_config.parent / 'gateway.db'}"
    reader = LedgerReader.open_readonly(url)
    try:
        verifier = NoteVerifier.from_vkey(layout.vkey_file.read_text().strip())
        verify_ledger(reader, [verifier])
        registered: dict[str, list[int]] = {}
        revoked: dict[str, list[int]] = {}
        decisions: dict[int, str] = {}
        outcomes: dict[str, list[int]] = {}
        orphans: list[int] = []
        kinds = ["warrant_registered", "warrant_revoked", "query_decision", "query_outcome"]
        for view in iter_entries(reader, kinds=kinds):
            if view.kind == "query_decision":
                decisions[view.index] = str(view.body["query_id"])
            elif view.kind == "query_outcome":
                outcomes.setdefault(str(view.body["query_id"]), []).append(view.index)
                # An outcome must follow the decision of the same query: none is invented.
                if decisions.get(int(view.body["decision_entry"])) != view.body["query_id"]:
                    orphans.append(view.index)
            else:
                target = registered if view.kind == "warrant_registered" else revoked
                target.setdefault(str(view.body["warrant_id"]), []).append(view.index)
    finally:
        reader.close()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(
                    warrants.c.warrant_id, warrants.c.ledger_index, warrants.c.revoke_ledger_index
                )
            ).all()
    finally:
        engine.dispose()
    # An acknowledged act is lost unless the ledger holds it at the index it was acknowledged
    # with; an act logged more than once is a duplicate (whether or not it was acknowledged).
    lost = [w for w, index in acts.registered.items() if index not in registered.get(w, [])]
    lost += [w for w in acts.revoked if w not in revoked]
    lost += [q for q, index in acts.answered.items() if index not in outcomes.get(q, [])]
    duplicates = [
        f"{kind} {key}"
        for kind, logged in (
            ("registered", registered),
            ("revoked", revoked),
            ("outcome", outcomes),
        )
        for key, indices in logged.items()
        if len(indices) > 1
    ]
    phantoms = [w for w in registered if w not in acts.sent]
    phantoms += [w for w in revoked if w not in acts.revoke_sent]
    phantoms += [w for w in revoked if w not in registered]
    # The registry must hold exactly what the ledger says took effect: a row per registration
    # at its entry, revoked at its revocation's entry, and no row the ledger does not explain.
    in_registry = {row.warrant_id: (row.ledger_index, row.revoke_ledger_index) for row in rows}
    in_ledger = {
        w: (indices[0], revoked[w][0] if w in revoked else None)
        for w, indices in registered.items()
    }
    disagree = sorted(
        w for w in in_registry.keys() | in_ledger.keys() if in_registry.get(w) != in_ledger.get(w)
    )
    faults.add(
        acknowledged=len(acts.registered) + len(acts.revoked) + len(acts.answered),
        acknowledged_lost=len(lost),
        duplicate_or_phantom=len(duplicates) + len(phantoms) + len(disagree) + len(orphans),
    )
    assert lost == []
    assert duplicates == []
    assert phantoms == []
    assert orphans == []
    assert disagree == []
