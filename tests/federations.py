"""A running federation for tests: three nodes in three states, a gateway, real mTLS.

Nodes: San Jose PD (CA), Chicago PD (IL), Norfolk PD (VA). Requesters without nodes: ICE ERO
(federal) and the Johnson County Sheriff (TX). Built with the demo layout builder, seeded with
synthetic data holding the demo plates, one federation per test module.
"""

from __future__ import annotations

import copy
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateways import GatewayThread, WitnessThread, free_port, seed_node, start_node

from agency_node.server import NodeServer
from alprfed import canonical, wire
from alprfed.client import exigent_approval_request as approval_request
from alprfed.clock import SYSTEM_CLOCK
from alprfed.config import TLSConfig, load_gateway_config
from alprfed.demo.layout import Layout, build_layout
from alprfed.demo.spec import DEMO, FederationSpec
from alprfed.ledger import LedgerEntryView, LedgerStore, PendingEntry, iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.replay import AuditReport, audit_entries
from alprfed.policy.warrants import WARRANT_SALT_BYTES, Warrant, WarrantLimits
from alprfed.query import QueryAnswer, QueryInput
from alprfed.rpc.tls import secure_channel
from alprfed.signing import WARRANT_TYPE, Envelope, SigningKey
from alprfed.v1 import gateway_pb2, gateway_pb2_grpc
from alprfed.wire import gateway as gwire

NODES = ("sjpd", "chicago-pd", "norfolk-pd")
DAY = 86_400
SUSPECT = "8FXR413"


def test_spec() -> FederationSpec:
    agencies = tuple(
        replace(a, sightings=3_000) if a.agency_id in NODES else replace(a, sightings=0)
        for a in DEMO.agencies
        if a.agency_id in (*NODES, "ice-ero", "johnson-county-so")
    )
    people = dict(DEMO.people)
    people["sjpd"] = (*people["sjpd"], "records-clerk")  # a person with no role at all
    return replace(
        DEMO,
        origin="test.alprfed.example/ledger/" + uuid.uuid4().hex[:8],
        agencies=agencies,
        people=people,
        witnesses=(),  # witnessed federations: tests/integration/witnessing
        witness_quorum=0,
    )


@dataclass
class Federation:
    layout: Layout
    gateway: GatewayThread
    nodes: dict[str, NodeServer]
    now: int
    witnesses: dict[str, WitnessThread] = field(default_factory=dict)

    @property
    def ledger_url(self) -> str:
        """The gateway's database (SQLite beside its config), for tests that read it."""
        return f"sqlite:///{self.layout.gateway_config.parent / 'gateway.db'}"

    def tls(self, organization: str, person: str) -> TLSConfig:
        principal = self.layout.pki / "orgs" / organization / "principals" / person
        return TLSConfig(
            ca=self.layout.pki / "ca.pem", cert=principal / "cert.pem", key=principal / "key.pem"
        )

    def profile(self, directory: Path, organization: str, person: str) -> Path:
        """A client profile file (docs/OPERATIONS.md) for ``person`` of ``organization``."""
        tls = self.tls(organization, person)
        path = directory / f"{organization}-{person}.toml"
        path.write_text(
            f'gateway = "localhost:{self.gateway.port}"\nca = "{tls.ca}"\n'
            f'cert = "{tls.cert}"\nkey = "{tls.key}"\n'
        )
        return path

    def stub(self, organization: str, person: str) -> gateway_pb2_grpc.GatewayStub:
        channel = secure_channel(f"localhost:{self.gateway.port}", self.tls(organization, person))
        return gateway_pb2_grpc.GatewayStub(channel)

    def query(
        self,
        organization: str,
        person: str,
        *,
        timeout: float = 15,
        metadata: tuple[tuple[str, str], ...] = (),
        **fields: object,
    ) -> QueryAnswer:
        values: dict[str, object] = dict(
            plate=SUSPECT,
            window_from=self.now - 3 * DAY,
            window_to=self.now,
            purpose=Purpose.ROBBERY,
            case_number="SJ-2026-0042",
        )
        values.update(fields)
        request = gwire.query_to_pb(QueryInput.create(**values))  # type: ignore[arg-type]
        response = self.stub(organization, person).Query(
            request, timeout=timeout, metadata=metadata
        )
        return gwire.answer_from_pb(response)

    def sign_warrant(
        self,
        court: str = "santa-clara-superior",
        *,
        key: SigningKey | None = None,
        **fields: object,
    ) -> Envelope:
        values: dict[str, object] = dict(
            warrant_id="w-" + uuid.uuid4().hex[:10],
            court=court,
            judge="Hon. A. Rivera",
            issued_at=self.now - 60,
            expires_at=self.now + 30 * DAY,
            agency="sjpd",
            plates=(SUSPECT,),
            window=TimeWindow(self.now - 7 * DAY, self.now),
            offense=Purpose.ROBBERY,
            limits=WarrantLimits(),
        )
        values.update(fields)
        # As a court would: drawn fresh, and marked prospective exactly when the window
        # reaches past issuance (the default window does, by the minute before now).
        values.setdefault("salt", secrets.token_hex(WARRANT_SALT_BYTES))
        window, issued_at = values["window"], values["issued_at"]
        assert isinstance(window, TimeWindow)
        assert isinstance(issued_at, int)
        values.setdefault("prospective", window.end > issued_at)
        warrant = Warrant(**values)  # type: ignore[arg-type]
        signer = key or SigningKey.load(self.layout.court_key(court))
        return signer.sign_envelope(WARRANT_TYPE, warrant.to_canonical())

    def clerk_of(self, court: str) -> tuple[str, str]:
        return court, next(c.clerk for c in self.layout.spec.courts if c.court_id == court)

    def register(
        self, envelope: Envelope, clerk: tuple[str, str] | None = None
    ) -> gateway_pb2.WarrantStatus:
        if clerk is None:
            court = canonical.decode(envelope.payload)["court"]
            clerk = self.clerk_of(court)
        return self.stub(*clerk).RegisterWarrant(
            gateway_pb2.RegisterWarrantRequest(warrant=wire.envelope_to_pb(envelope)), timeout=10
        )

    def approve_exigent(
        self, person: tuple[str, str] = ("sjpd", "sgt-nguyen"), **fields: str
    ) -> gateway_pb2.ExigentApproval:
        """A supervisor's co-approval, with the consent signed by ``person``'s own key."""
        request: dict[str, str] = dict(
            officer="officer-garcia",
            plate=SUSPECT,
            purpose="amber_alert",
            case_number="SJ-AMBER-1",
            note="child taken from school",
        )
        request.update(fields)
        return self.stub(*person).ApproveExigent(
            approval_request(**request, tls=self.tls(*person)), timeout=10
        )

    def amber_alert(self, case_number: str) -> QueryAnswer:
        """Officer Garcia's AMBER-alert query over the last day, without a warrant: co-approved
        by Sgt. Nguyen, so it goes through and is flagged for judicial review."""
        approval = self.approve_exigent(case_number=case_number)
        return self.query(
            "sjpd",
            "officer-garcia",
            exigent_approval_id=approval.approval_id,
            purpose=Purpose.AMBER_ALERT,
            case_number=case_number,
            window_from=self.now - DAY,
        )

    def logged(self, kind: str, key: str, value: object) -> list[LedgerEntryView]:
        """The ledger's entries of ``kind`` whose body has ``key`` = ``value``, read from the
        gateway's database."""
        reader = LedgerReader.open_readonly(self.ledger_url)
        try:
            return [e for e in iter_entries(reader, kinds=[kind]) if e.body.get(key) == value]
        finally:
            reader.close()

    def wait_witnessed(self, timeout_s: float = 10.0) -> int:
        """Wait until the published (witnessed) checkpoint covers every committed entry: the
        gateway does not wait for a query's outcome round before answering. Returns the size.
        """
        reader = LedgerReader.open_readonly(self.ledger_url)
        try:
            give_up = time.monotonic() + timeout_s
            while (size := reader.size()) != reader.published_size():
                if time.monotonic() > give_up:
                    raise AssertionError(f"entries up to {size} were never witnessed")
                time.sleep(0.02)
            return size
        finally:
            reader.close()

    def warrant(self, **fields: object) -> str:
        status = self.register(self.sign_warrant(**fields))
        return status.warrant_id


def start_federation(
    root: Path,
    *,
    node_ports: dict[str, int] | None = None,
    skip_nodes: tuple[str, ...] = (),
    spec_edit: Callable[[FederationSpec], FederationSpec] | None = None,
    gateway_policies: Path | None = None,
    witnessed: bool = False,
) -> Federation:
    """Build, seed and start a federation; ``gateway_policies`` gives the gateway its own
    policies directory (to edit and reload it in a test); ``witnessed`` runs the demo's three
    witnesses (quorum 2) as real HTTP servers, and the gateway and nodes demand them."""
    spec = test_spec() if spec_edit is None else spec_edit(test_spec())
    if witnessed:
        spec = replace(spec, witnesses=DEMO.witnesses, witness_quorum=DEMO.witness_quorum)
    ports = {a: free_port() for a in NODES} | (node_ports or {})
    witness_ports = {w.witness_id: free_port() for w in spec.witnesses}
    layout = build_layout(
        root,
        spec,
        gateway_port=free_port(),
        node_ports=ports,
        witness_ports=witness_ports,
        tiles_port=free_port() if witnessed else 0,
    )
    witnesses = {w: WitnessThread(layout.witness_config(w)).start() for w in witness_ports}
    if gateway_policies is not None:
        config = layout.gateway_config.read_text()
        layout.gateway_config.write_text(
            config.replace("[gateway]\n", f'[gateway]\npolicies_dir = "{gateway_policies}"\n', 1)
        )
    now = int(time.time())
    nodes = {}
    for i, agency in enumerate(NODES):
        seed_node(layout, agency, sightings=3_000, seed=100 + i, now=now)
        if agency not in skip_nodes:
            nodes[agency] = start_node(layout, agency)
    gateway = GatewayThread(load_gateway_config(layout.gateway_config)).start()
    return Federation(layout, gateway, nodes, now, witnesses)


def stop_federation(federation: Federation) -> None:
    federation.gateway.stop()
    for node in federation.nodes.values():
        node.stop(grace=None)
    for witness in federation.witnesses.values():
        witness.stop()


def forge_allowed_and_replay(
    federation: Federation, decision_body: dict[str, Any], agency: str
) -> tuple[int, AuditReport]:
    """What a compromised gateway holding the ledger key can do: log a copy of a decision
    with ``agency`` allowed. Returns the forged entry's index and the audit replay of the
    whole ledger afterwards."""
    forged = copy.deepcopy(decision_body)
    for decision in forged["decisions"]:
        if decision["agency"] == agency:
            decision["allowed"], decision["refused_by"] = True, []
    index = append_forged(federation, "query_decision", forged, (SUSPECT,))
    reader = LedgerReader.open_readonly(federation.ledger_url)
    try:
        return index, audit_entries(iter_entries(reader))
    finally:
        reader.close()


def append_forged(
    federation: Federation, kind: str, body: dict[str, Any], plates: tuple[str, ...] = ()
) -> int:
    """Append an entry as a compromised gateway holding the ledger key can; returns its index."""
    store = LedgerStore.open(
        federation.ledger_url,
        origin=federation.layout.spec.origin,
        signer=SigningKey.load(federation.layout.root / "keys" / "ledger.pem"),
        clock=SYSTEM_CLOCK,
    )
    try:
        (appended,) = store.append_batch([PendingEntry(kind, body, plates)])
    finally:
        store.close()
    return appended.index
