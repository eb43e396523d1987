"""Write a whole federation into a directory: PKI, keys, federation file, every config.

    DIR/pki/...                      development PKI (alprfed pki): ca.pem, orgs/<org>/...
    DIR/keys/gateway-query.pem       signs search queries
    DIR/keys/ledger.pem              signs ledger checkpoints
    DIR/keys/courts/<court>.pem      each court's warrant-signing key
    DIR/federation.toml              agencies, courts, keys, exigent settings
    DIR/gateway/gateway.toml         the gateway (its ledger database lives beside it)
    DIR/nodes/<agency>/node.toml     each node (its database and key live beside it)
    DIR/profiles/<org>-<person>.toml how each person reaches the gateway (alprfed --profile)
    DIR/ledger.vkey                  the ledger's verifier key, for oversight bodies
    DIR/witnesses/<id>/witness.toml  each witness (its key and database live beside it)
    DIR/witness-policy.txt           C2SP tlog-policy: the log, the witnesses, the quorum

Everything refers to everything else by relative path, so the directory can move.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from alprfed.demo.spec import FederationSpec
from alprfed.ledger.cosignature import CosignatureVerifier
from alprfed.ledger.note import NoteVerifier
from alprfed.pki import FEDERATION_ORG, GATEWAY_PRINCIPAL, init_pki, issue
from alprfed.rpc.identity import PrincipalKind
from alprfed.signing import SigningKey

NODE_PRINCIPAL = "node"


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string


def _table(name: str, values: Mapping[str, object], *, array: bool = False) -> str:
    header = f"[[{name}]]" if array else f"[{name}]"
    lines = [header] + [f"{k} = {_toml_value(v)}" for k, v in values.items() if v is not None]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class Layout:
    root: Path
    spec: FederationSpec
    gateway_address: str
    node_addresses: dict[str, str]
    witness_addresses: dict[str, str] = field(default_factory=dict)
    tiles_address: str = ""

    @property
    def federation_file(self) -> Path:
        return self.root / "federation.toml"

    @property
    def gateway_config(self) -> Path:
        return self.root / "gateway" / "gateway.toml"

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def vkey_file(self) -> Path:
        return self.root / "ledger.vkey"

    def node_config(self, agency_id: str) -> Path:
        return self.root / "nodes" / agency_id / "node.toml"

    def witness_config(self, witness_id: str) -> Path:
        return self.root / "witnesses" / witness_id / "witness.toml"

    @property
    def witness_policy(self) -> Path:
        return self.root / "witness-policy.txt"

    def court_key(self, court_id: str) -> Path:
        return self.root / "keys" / "courts" / f"{court_id}.pem"

    def profile(self, organization: str, person: str) -> Path:
        return self.root / "profiles" / f"{organization}-{person}.toml"


def build_layout(
    root: Path,
    spec: FederationSpec,
    *,
    gateway_port: int,
    node_ports: Mapping[str, int],
    host: str = "localhost",
    database_urls: Mapping[str, str] | None = None,
    witness_ports: Mapping[str, int] | None = None,
    tiles_port: int = 0,
) -> Layout:
    """Create keys, PKI and configs for ``spec`` under ``root`` (which must not exist yet).

    ``database_urls`` maps "gateway" or an agency id to a database URL; the default is an
    SQLite file beside each config. ``witness_ports`` gives each of the spec's witnesses its
    port (required when it has witnesses); ``tiles_port`` turns on the gateway's tiles server.
    """
    root.mkdir(parents=True)
    urls = dict(database_urls or {})
    nodes = [a for a in spec.agencies if a.runs_node]
    organizations = sorted((set(spec.organizations()) | set(spec.people)) - {FEDERATION_ORG})
    init_pki(root / "pki", organizations=organizations, hosts=(host,))
    for agency in nodes:
        issue(
            root / "pki",
            organization=agency.agency_id,
            kind=PrincipalKind.NODE,
            principal=NODE_PRINCIPAL,
            hosts=(host,),
        )
    for organization, people in spec.people.items():
        for person in people:
            issue(
                root / "pki", organization=organization, kind=PrincipalKind.PERSON, principal=person
            )

    keys = root / "keys"
    query_key, ledger_key = SigningKey.generate(), SigningKey.generate()
    query_key.save(keys / "gateway-query.pem")
    ledger_key.save(keys / "ledger.pem")
    court_keys = {c.court_id: SigningKey.generate() for c in spec.courts}
    for court_id, key in court_keys.items():
        key.save(keys / "courts" / f"{court_id}.pem")
    node_keys = {a.agency_id: SigningKey.generate() for a in nodes}

    addresses = {a.agency_id: f"{host}:{node_ports[a.agency_id]}" for a in nodes}
    federation = [
        _table(
            "federation",
            {
                "name": spec.name,
                "origin": spec.origin,
                "gateway_key": query_key.public.to_text(),
                "exigent_enabled": True,
                "exigent_lookback_hours": spec.exigent_lookback_hours,
            },
        )
    ]
    for agency in spec.agencies:
        federation.append(
            _table(
                "agency",
                {
                    "id": agency.agency_id,
                    "name": agency.name,
                    "state": agency.state,
                    "kind": agency.kind.value,
                    "node_address": addresses.get(agency.agency_id),
                    "node_key": node_keys[agency.agency_id].public.to_text()
                    if agency.runs_node
                    else None,
                    "declarations": list(agency.declarations),
                },
                array=True,
            )
        )
    for court in spec.courts:
        federation.append(
            _table(
                "court",
                {
                    "id": court.court_id,
                    "name": court.name,
                    "key": court_keys[court.court_id].public.to_text(),
                    "kind": court.kind.value,
                    "states": list(court.states),
                },
                array=True,
            )
        )
    (root / "federation.toml").write_text("\n".join(federation))

    witness_addresses = _write_witnesses(
        root, spec, ledger_key, host=host, ports=dict(witness_ports or {})
    )
    tiles_address = f"{host}:{tiles_port}" if tiles_port else None

    gateway_dir = root / "gateway"
    gateway_dir.mkdir()
    gateway_tls = {
        "ca": "../pki/ca.pem",
        "cert": f"../pki/orgs/{FEDERATION_ORG}/principals/{GATEWAY_PRINCIPAL}/cert.pem",
        "key": f"../pki/orgs/{FEDERATION_ORG}/principals/{GATEWAY_PRINCIPAL}/key.pem",
    }
    (gateway_dir / "gateway.toml").write_text(
        "\n".join(
            [
                _table(
                    "gateway",
                    {
                        "federation": "../federation.toml",
                        "database_url": urls.get("gateway", "sqlite:///gateway.db"),
                        "signing_key": "../keys/gateway-query.pem",
                        "ledger_key": "../keys/ledger.pem",
                        "listen": f"{host}:{gateway_port}",
                        "witness_policy": "../witness-policy.txt" if spec.witnesses else None,
                        "tiles_listen": tiles_address,
                    },
                ),
                _table("tls", gateway_tls),
                _table("node_tls", gateway_tls),
            ]
        )
    )

    for agency in nodes:
        node_dir = root / "nodes" / agency.agency_id
        node_dir.mkdir(parents=True)
        node_keys[agency.agency_id].save(node_dir / "node-key.pem")
        _write_trust(node_dir / "trust.toml", spec, court_keys)
        principal = f"../../pki/orgs/{agency.agency_id}/principals/{NODE_PRINCIPAL}"
        (node_dir / "node.toml").write_text(
            "\n".join(
                [
                    _table(
                        "node",
                        {
                            "agency_id": agency.agency_id,
                            "state": agency.state,
                            "database_url": urls.get(agency.agency_id, "sqlite:///node.db"),
                            "signing_key": "node-key.pem",
                            "gateway_key": query_key.public.to_text(),
                            "listen": addresses[agency.agency_id],
                            "retention_seconds": agency.retention_seconds,
                            "gateway_address": f"{host}:{gateway_port}",
                            "trust": "trust.toml",
                        },
                    ),
                    _table(
                        "tls",
                        {
                            "ca": "../../pki/ca.pem",
                            "cert": f"{principal}/cert.pem",
                            "key": f"{principal}/key.pem",
                        },
                    ),
                ]
            )
        )

    profiles = root / "profiles"
    profiles.mkdir()
    for organization, people in spec.people.items():
        for person in people:
            principal = f"../pki/orgs/{organization}/principals/{person}"
            (profiles / f"{organization}-{person}.toml").write_text(
                f'gateway = "{host}:{gateway_port}"\nca = "../pki/ca.pem"\n'
                f'cert = "{principal}/cert.pem"\nkey = "{principal}/key.pem"\n'
            )

    (root / "ledger.vkey").write_text(
        NoteVerifier.for_key(spec.origin, ledger_key.public).to_vkey() + "\n"
    )
    return Layout(
        root, spec, f"{host}:{gateway_port}", addresses, witness_addresses, tiles_address or ""
    )


def _write_trust(path: Path, spec: FederationSpec, court_keys: Mapping[str, SigningKey]) -> None:
    """A node's own trust file: the shared witness policy (the ledger's key, the witnesses,
    the quorum), every court of the federation (a real agency chooses its own list) and the
    oversight bodies that may read its access log."""
    parts = [
        'witness_policy = "../../witness-policy.txt"\n'
        f"auditors = {_toml_value(list(spec.oversight))}\n"
        # A federation without witnesses (tests, experiments) must say so explicitly.
        + ("" if spec.witnesses else "allow_unwitnessed = true\n")
    ]
    for court in spec.courts:
        parts.append(
            _table(
                "court",
                {
                    "id": court.court_id,
                    "name": court.name,
                    "key": court_keys[court.court_id].public.to_text(),
                    "kind": court.kind.value,
                    "states": list(court.states),
                },
                array=True,
            )
        )
    path.write_text("\n".join(parts))


def _write_witnesses(
    root: Path, spec: FederationSpec, ledger_key: SigningKey, *, host: str, ports: dict[str, int]
) -> dict[str, str]:
    """A key, config and database place per witness, and the witness policy naming them.

    The demo's witnesses speak plain HTTP on this machine's loopback; an oversight body's
    witness sets [tls] in its config (docs/WITNESS.md).
    """
    log_vkey = NoteVerifier.for_key(spec.origin, ledger_key.public).to_vkey()
    addresses: dict[str, str] = {}
    policy = [f"log {log_vkey}"]
    if not spec.witnesses:  # the nodes still need the ledger's key from it
        (root / "witness-policy.txt").write_text(f"log {log_vkey}\nquorum none\n")
        return addresses
    for witness in spec.witnesses:
        directory = root / "witnesses" / witness.witness_id
        directory.mkdir(parents=True)
        key = SigningKey.generate()
        key.save(directory / "witness-key.pem")
        addresses[witness.witness_id] = f"{host}:{ports[witness.witness_id]}"
        (directory / "witness.toml").write_text(
            "\n".join(
                [
                    _table(
                        "witness",
                        {
                            "name": witness.name,
                            "signing_key": "witness-key.pem",
                            "database_url": "sqlite:///witness.db",
                            "listen": addresses[witness.witness_id],
                        },
                    ),
                    _table("log", {"origin": spec.origin, "keys": [log_vkey]}, array=True),
                ]
            )
        )
        vkey = CosignatureVerifier.for_key(witness.name, key.public).to_vkey()
        policy.append(f"witness {witness.witness_id} {vkey} http://{addresses[witness.witness_id]}")
    members = " ".join(w.witness_id for w in spec.witnesses)
    policy += [f"group witnesses {spec.witness_quorum} {members}", "quorum witnesses"]
    (root / "witness-policy.txt").write_text("\n".join(policy) + "\n")
    return addresses
