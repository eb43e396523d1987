"""Configuration: frozen dataclasses built once from TOML by the CLI and passed down.

Library code never reads the environment or a config file on its own. Relative paths in a TOML
file are resolved against the directory of that file, so a config directory can be moved whole.
The keys of each file are documented in docs/OPERATIONS.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from alprfed.config_env import ConfigSchema, EnvText, apply_environment, convert
from alprfed.errors import ConfigError
from alprfed.models import Agency, AgencyId, AgencyKind, check_identifier, check_state
from alprfed.observability.settings import (
    OBSERVABILITY_KEYS,
    ObservabilitySettings,
    read_observability,
)
from alprfed.signing import VerifyingKey

DEFAULT_PURGE_INTERVAL_S = 60
DEFAULT_PER_NODE_TIMEOUT_MS = 2_000
DEFAULT_QUERY_TIMEOUT_MS = 5_000
DEFAULT_EXIGENT_LOOKBACK_HOURS = 72
DEFAULT_WITNESS_TIMEOUT_MS = 2_000  # one add-checkpoint request to one witness
DEFAULT_OPENINGS_RETENTION_DAYS = 400  # how long the plates behind ledger commitments are kept
# A warrant's plates are matched against its registration entry's openings for as long as the
# warrant is in force (at most 366 days), so its openings must outlive it.
MIN_OPENINGS_RETENTION_DAYS = 367


def bundled_policies_dir() -> Path:
    """The policies/ shipped with alprfed (Casbin files and state law packs).

    An installed wheel carries them as alprfed/policies (mapped by setup.py); a source checkout
    or editable install reads the repository's policies/ folder itself.
    """
    return _bundled("policies", "model.conf")


def bundled_protos_dir() -> Path:
    """The import root of the .proto files shipped with alprfed (``alprfed/v1/*.proto``
    beneath it): the wire contract, for grpcurl and for clients in other languages."""
    return _bundled("protos", "alprfed/v1/gateway.proto")


def _bundled(name: str, marker: str) -> Path:
    """alprfed/<name> in a wheel (setup.py maps it), else the checkout's <name>/."""
    import alprfed

    package_dir = Path(alprfed.__file__).resolve().parent
    for candidate in (package_dir / name, package_dir.parent / name):
        if (candidate / marker).is_file():
            return candidate
    raise ConfigError(f"no bundled {name} found beside {package_dir}")


@dataclass(frozen=True)
class TLSConfig:
    """Mutual TLS material. ``insecure`` is plaintext and only ever set by ``--insecure``."""

    ca: Path | None = None  # PEM bundle of trusted roots (the federation root)
    cert: Path | None = None  # this service's certificate chain, PEM
    key: Path | None = None  # its private key, PEM
    insecure: bool = False

    def check(self, what: str) -> None:
        if self.insecure:
            return
        missing = [n for n in ("ca", "cert", "key") if getattr(self, n) is None]
        if missing:
            raise ConfigError(
                f"{what}: TLS needs {', '.join(missing)} (or run with --insecure "
                "for local experiments only)"
            )
        for name in ("ca", "cert", "key"):
            path = getattr(self, name)
            if not path.is_file():
                raise ConfigError(f"{what}: TLS {name} file {path} does not exist")
        self._check_contents(what)

    def _check_contents(self, what: str) -> None:
        """Read the PEM files as gRPC will, so a bad one is named here, not by a C-core log
        line and a traceback when the server starts."""
        assert self.ca is not None
        assert self.cert is not None
        assert self.key is not None
        for name, path in (("ca", self.ca), ("cert", self.cert)):
            try:
                x509.load_pem_x509_certificates(path.read_bytes())
            except (OSError, ValueError):
                raise ConfigError(
                    f"{what}: TLS {name} {path} is not a PEM certificate file"
                ) from None
        try:
            private = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        except (OSError, ValueError, TypeError):
            raise ConfigError(
                f"{what}: TLS key {self.key} is not an unencrypted PEM private key"
            ) from None
        leaf = x509.load_pem_x509_certificates(self.cert.read_bytes())[0]
        if private.public_key() != leaf.public_key():
            raise ConfigError(
                f"{what}: TLS key {self.key} is not the private key of the certificate {self.cert}"
            )


DEFAULT_WEBHOOK_BODY_BYTES = 4 * 1024 * 1024  # a Plate Recognizer post may carry its image


@dataclass(frozen=True)
class WebhookConfig:
    """The node's HTTPS webhook receiver for camera engines (docs/INGEST.md, ``[webhook]``)."""

    listen: str  # HOST:PORT of its own; TLS with the node's certificate
    tokens: Path  # the camera token file (hashes only), managed by ``alprfed node token``
    max_body_bytes: int = DEFAULT_WEBHOOK_BODY_BYTES


@dataclass(frozen=True)
class NodeConfig:
    agency_id: AgencyId
    state: str
    database_url: str
    signing_key: Path  # signs receipts and purge reports
    gateway_keys: tuple[VerifyingKey, ...]  # keys whose signed queries this node answers
    listen: str = "127.0.0.1:0"
    tls: TLSConfig = field(default_factory=TLSConfig)
    retention_seconds: int | None = None  # None: the node's law pack decides
    policies_dir: Path | None = None  # None: the bundled policies
    purge_interval_seconds: int = DEFAULT_PURGE_INTERVAL_S
    gateway_address: str = ""  # where purge reports go; "" keeps them queued
    # The node's own trust anchors (agency_node.trust): the ledger key and witness policy,
    # the courts it honours, its auditors. Without it the node answers no query.
    trust_file: Path | None = None
    # metrics_listen, log_format, tracing_*, reflection (docs/OPERATIONS.md, "Observability")
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)
    webhook: WebhookConfig | None = None  # None: no webhook receiver

    @property
    def effective_policies_dir(self) -> Path:
        return self.policies_dir or bundled_policies_dir()


class CourtKind(StrEnum):
    """Which court system a court belongs to; it decides whom its warrants can authorize."""

    STATE = "state"  # authorizes local and state agencies of its state(s)
    FEDERAL = "federal"  # authorizes federal agencies, and agencies of its district's state(s)


@dataclass(frozen=True)
class CourtConfig:
    """A court the federation trusts (docs/OPERATIONS.md, ``[[court]]``).

    Jurisdiction is ``alprfed.policy.warrants.court_covers``.
    """

    court_id: str
    name: str
    key: VerifyingKey
    # A state court's state; a federal court's district state(s). Also whose agencies'
    # exigent queries this court's clerks review.
    states: frozenset[str] = frozenset()
    # The federation file requires ``kind``; the default only keeps code that builds a
    # CourtConfig positionally (agency_node/trust.py) working, and "state" is the narrower
    # jurisdiction, so a forgotten kind never widens whom a warrant can authorize.
    kind: CourtKind = CourtKind.STATE


@dataclass(frozen=True)
class FederationConfig:
    name: str
    origin: str  # the ledger's origin line, unique per federation
    gateway_key: VerifyingKey  # verifies the gateway's signed queries
    agencies: Mapping[str, Agency]
    courts: Mapping[str, CourtConfig]
    exigent_enabled: bool = True
    exigent_lookback_seconds: int = DEFAULT_EXIGENT_LOOKBACK_HOURS * 3600

    def nodes(self) -> list[Agency]:
        return [a for a in self.agencies.values() if a.runs_node]


@dataclass(frozen=True)
class GatewayConfig:
    federation: FederationConfig
    federation_file: Path
    database_url: str  # the ledger, warrants, exigent approvals
    signing_key: Path  # signs search queries
    ledger_key: Path  # signs checkpoints (key name = origin)
    listen: str = "127.0.0.1:0"
    tls: TLSConfig = field(default_factory=TLSConfig)  # server side, officers connect here
    node_tls: TLSConfig = field(default_factory=TLSConfig)  # client side, to the nodes
    policies_dir: Path | None = None
    per_node_timeout_ms: int = DEFAULT_PER_NODE_TIMEOUT_MS
    default_query_timeout_ms: int = DEFAULT_QUERY_TIMEOUT_MS
    openings_retention_days: int = DEFAULT_OPENINGS_RETENTION_DAYS
    # C2SP tlog-policy file: the witnesses (with their URLs) and the quorum a checkpoint needs
    # before it is published. None: no witnesses, every checkpoint published as signed.
    witness_policy: Path | None = None
    witness_ca: Path | None = None  # trusted roots for HTTPS witnesses (default: the system's)
    witness_timeout_ms: int = DEFAULT_WITNESS_TIMEOUT_MS
    tiles_listen: str = ""  # HOST:PORT of the C2SP tlog-tiles HTTP server; "" = none
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)

    @property
    def effective_policies_dir(self) -> Path:
        return self.policies_dir or bundled_policies_dir()


# --- TOML loading -----------------------------------------------------------------------------


def read_toml(path: Path) -> dict[str, Any]:
    """Raises: ConfigError with the file and the parser's message."""
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None


# Every key each table may hold. Anything else is an error: a misspelt key (say
# "gateway_adress") must not silently turn a feature off.
ROOT_NODE = {"node", "tls", "webhook"}
ROOT_GATEWAY = {"gateway", "tls", "node_tls"}
ROOT_FEDERATION = {"federation", "agency", "court"}
NODE_KEYS = {
    "agency_id",
    "state",
    "database_url",
    "signing_key",
    "gateway_key",
    "gateway_keys",
    "listen",
    "retention_seconds",
    "policies_dir",
    "purge_interval_seconds",
    "gateway_address",
    "trust",
    *OBSERVABILITY_KEYS,
}
GATEWAY_KEYS = {
    "openings_retention_days",
    "federation",
    "database_url",
    "signing_key",
    "ledger_key",
    "listen",
    "policies_dir",
    "per_node_timeout_ms",
    "default_query_timeout_ms",
    "witness_policy",
    "witness_ca",
    "witness_timeout_ms",
    "tiles_listen",
    *OBSERVABILITY_KEYS,
}
TLS_KEYS = {"ca", "cert", "key"}
WEBHOOK_KEYS = {"listen", "tokens", "max_body_bytes"}
FEDERATION_KEYS = {"name", "origin", "gateway_key", "exigent_enabled", "exigent_lookback_hours"}
AGENCY_KEYS = {"id", "name", "state", "kind", "node_address", "node_key", "declarations"}
COURT_KEYS = {"id", "name", "key", "kind", "states"}
MAX_PORT = 65_535
# What ALPRFED_* variables and *_file secrets may set (alprfed.config_env). Derived from the
# key sets above, so a key added there is overridable and must be documented.
NODE_SCHEMA = ConfigSchema(
    service="node",
    tables={"node": frozenset(NODE_KEYS), "tls": frozenset(TLS_KEYS)},
    secrets={"node": frozenset({"database_url"})},
)
GATEWAY_SCHEMA = ConfigSchema(
    service="gateway",
    tables={
        "gateway": frozenset(GATEWAY_KEYS),
        "tls": frozenset(TLS_KEYS),
        "node_tls": frozenset(TLS_KEYS),
    },
    secrets={"gateway": frozenset({"database_url"})},
)


class _Table:
    """Typed access to one TOML table with errors that name the file and key."""

    def __init__(
        self, data: Mapping[str, Any], where: str, base: Path, known: set[str] | None = None
    ) -> None:
        self.data, self.where, self.base = data, where, base
        if known is not None and (unknown := sorted(set(data) - known)):
            raise ConfigError(
                f"{where}: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"known: {', '.join(sorted(known))}"
            )

    def _get(self, key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        if key not in self.data:
            if default is _REQUIRED:
                raise ConfigError(f"{self.where}: missing required key {key!r}")
            return default
        value = self.data[key]
        if isinstance(value, EnvText):
            value = convert(value, kind, key)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ConfigError(f"{self.where}: {key!r} has the wrong type")
        return value

    def text(self, key: str, default: Any = None) -> Any:
        return self._get(key, str, _REQUIRED if default is None else default)

    def opt_str(self, key: str) -> str | None:
        value: str | None = self._get(key, str, None)
        return value

    def integer(self, key: str, default: Any = None) -> Any:
        return self._get(key, int, _REQUIRED if default is None else default)

    def flag(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, bool, default)
        return value

    def items(self, key: str) -> list[Any]:
        value: list[Any] = self._get(key, list, [])
        return value

    def path(self, key: str) -> Path:
        return self.base / str(self.text(key))

    def opt_path(self, key: str) -> Path | None:
        value = self.opt_str(key)
        return None if value is None else self.base / value

    def key(self, key: str) -> VerifyingKey:
        try:
            return VerifyingKey.from_text(self.text(key))
        except ConfigError as exc:
            raise ConfigError(f"{self.where}: {key!r}: {exc}") from None

    def table(self, key: str, known: set[str] | None = None) -> _Table:
        return _Table(self._get(key, dict, {}), f"{self.where} [{key}]", self.base, known)

    def address(self, key: str, default: str, *, any_port: bool = False) -> str:
        """HOST:PORT with a real port (0, "any free port", only where ``any_port``)."""
        value = str(self.text(key, default))
        host, _, port = value.rpartition(":")
        low = 0 if any_port else 1
        if not host or not port.isdigit() or not low <= int(port) <= MAX_PORT:
            raise ConfigError(
                f"{self.where}: {key!r} must be HOST:PORT with a port from {low} "
                f"to {MAX_PORT}, not {value!r}"
            )
        return value


_REQUIRED = object()


def _webhook(table: _Table) -> WebhookConfig:
    limit = table.integer("max_body_bytes", DEFAULT_WEBHOOK_BODY_BYTES)
    if isinstance(limit, bool) or limit <= 0:
        raise ConfigError(f"{table.where}: 'max_body_bytes' must be a positive integer")
    return WebhookConfig(
        listen=table.address("listen", "", any_port=True),
        tokens=table.path("tokens"),
        max_body_bytes=limit,
    )


def _tls(table: _Table, insecure: bool) -> TLSConfig:
    return TLSConfig(
        ca=table.opt_path("ca"),
        cert=table.opt_path("cert"),
        key=table.opt_path("key"),
        insecure=insecure,
    )


def load_node_config(
    path: Path, *, insecure: bool = False, environ: Mapping[str, str] | None = None
) -> NodeConfig:
    """Read a node TOML file (docs/OPERATIONS.md) with the ALPRFED_NODE_* variables of
    ``environ`` applied (alprfed.config_env). Raises: ConfigError."""
    data = apply_environment(read_toml(path), NODE_SCHEMA, environ or {}, path)
    root = _Table(data, str(path), path.parent, ROOT_NODE)
    node = root.table("node", NODE_KEYS)
    retention = node.data.get("retention_seconds")
    if retention is not None and (not isinstance(retention, int) or retention <= 0):
        raise ConfigError(f"{path}: retention_seconds must be a positive integer")
    keys = node.items("gateway_keys") or [node.text("gateway_key")]
    if not all(isinstance(k, str) for k in keys):
        raise ConfigError(f"{node.where}: 'gateway_keys' must be a list of key texts")
    config = NodeConfig(
        agency_id=AgencyId(_id(node.text("agency_id"), path)),
        state=_state(node.text("state"), path),
        database_url=_database_url(node.text("database_url"), path.parent),
        signing_key=node.path("signing_key"),
        gateway_keys=tuple(_verifying_key(k, node.where, "gateway_keys") for k in keys),
        listen=node.address("listen", "127.0.0.1:0", any_port=True),
        tls=_tls(root.table("tls", TLS_KEYS), insecure),
        retention_seconds=retention,
        policies_dir=node.opt_path("policies_dir"),
        purge_interval_seconds=node.integer("purge_interval_seconds", DEFAULT_PURGE_INTERVAL_S),
        gateway_address=node.address("gateway_address", "")
        if node.data.get("gateway_address")
        else "",
        trust_file=node.opt_path("trust"),
        observability=read_observability(node),
        webhook=_webhook(root.table("webhook", WEBHOOK_KEYS)) if "webhook" in root.data else None,
    )
    if config.purge_interval_seconds <= 0:
        raise ConfigError(f"{node.where}: 'purge_interval_seconds' must be a positive integer")
    config.tls.check(str(path))
    return config


def _verifying_key(text: str, where: str, key: str) -> VerifyingKey:
    try:
        return VerifyingKey.from_text(text)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {key!r}: {exc}") from None


def load_federation(path: Path) -> FederationConfig:
    """Read the federation file: agencies, courts, the gateway key. Raises: ConfigError."""
    root = _Table(read_toml(path), str(path), path.parent, ROOT_FEDERATION)
    fed = root.table("federation", FEDERATION_KEYS)
    agencies: dict[str, Agency] = {}
    for i, raw in enumerate(root.items("agency")):
        t = _Table(raw, f"{path} agency #{i + 1}", path.parent, AGENCY_KEYS)
        agency_id = AgencyId(_id(t.text("id"), path))
        if agency_id in agencies:
            raise ConfigError(f"{path}: agency {agency_id!r} is listed twice")
        address = t.address("node_address", "") if raw.get("node_address") else ""
        try:
            kind = AgencyKind(t.text("kind"))
        except ValueError:
            raise ConfigError(f"{t.where}: kind must be local, state or federal") from None
        agencies[agency_id] = Agency(
            agency_id=agency_id,
            name=t.text("name"),
            state=_state(t.text("state"), path),
            kind=kind,
            node_address=address,
            node_key=t.key("node_key").raw if address else b"",
            declarations_on_file=frozenset(_state(s, path) for s in t.items("declarations")),
        )
    courts: dict[str, CourtConfig] = {}
    for i, raw in enumerate(root.items("court")):
        t = _Table(raw, f"{path} court #{i + 1}", path.parent, COURT_KEYS)
        court_id = _id(t.text("id"), path)
        if court_id in courts:
            raise ConfigError(f"{path}: court {court_id!r} is listed twice")
        # Required, not defaulted: whom a court's warrants may authorize depends on it, and a
        # federation file written before it existed should be reviewed, not guessed at.
        try:
            court_kind = CourtKind(t.text("kind"))
        except ValueError:
            raise ConfigError(f"{t.where}: kind must be state or federal") from None
        states = frozenset(_state(x, path) for x in t.items("states"))
        if not states:
            raise ConfigError(
                f"{t.where}: states must name the court's state (a federal court: its "
                "district's state or states)"
            )
        courts[court_id] = CourtConfig(court_id, t.text("name"), t.key("key"), states, court_kind)
    if not agencies:
        raise ConfigError(f"{path}: the federation lists no agencies")
    lookback_hours = fed.integer("exigent_lookback_hours", DEFAULT_EXIGENT_LOOKBACK_HOURS)
    return FederationConfig(
        name=fed.text("name"),
        origin=fed.text("origin"),
        gateway_key=fed.key("gateway_key"),
        agencies=agencies,
        courts=courts,
        exigent_enabled=fed.flag("exigent_enabled", True),
        exigent_lookback_seconds=lookback_hours * 3600,
    )


def load_gateway_config(
    path: Path, *, insecure: bool = False, environ: Mapping[str, str] | None = None
) -> GatewayConfig:
    """Read a gateway TOML file, with the ALPRFED_GATEWAY_* variables of ``environ`` applied
    (alprfed.config_env), and the federation file it names. Raises: ConfigError."""
    data = apply_environment(read_toml(path), GATEWAY_SCHEMA, environ or {}, path)
    root = _Table(data, str(path), path.parent, ROOT_GATEWAY)
    gw = root.table("gateway", GATEWAY_KEYS)
    federation_file = gw.path("federation")
    config = GatewayConfig(
        federation=load_federation(federation_file),
        federation_file=federation_file,
        database_url=_database_url(gw.text("database_url"), path.parent),
        signing_key=gw.path("signing_key"),
        ledger_key=gw.path("ledger_key"),
        listen=gw.address("listen", "127.0.0.1:0", any_port=True),
        tls=_tls(root.table("tls", TLS_KEYS), insecure),
        node_tls=_tls(root.table("node_tls", TLS_KEYS), insecure),
        policies_dir=gw.opt_path("policies_dir"),
        per_node_timeout_ms=gw.integer("per_node_timeout_ms", DEFAULT_PER_NODE_TIMEOUT_MS),
        default_query_timeout_ms=gw.integer("default_query_timeout_ms", DEFAULT_QUERY_TIMEOUT_MS),
        openings_retention_days=gw.integer(
            "openings_retention_days", DEFAULT_OPENINGS_RETENTION_DAYS
        ),
        witness_policy=gw.opt_path("witness_policy"),
        witness_ca=gw.opt_path("witness_ca"),
        witness_timeout_ms=gw.integer("witness_timeout_ms", DEFAULT_WITNESS_TIMEOUT_MS),
        tiles_listen=gw.address("tiles_listen", "", any_port=True)
        if gw.data.get("tiles_listen")
        else "",
        observability=read_observability(gw),
    )
    for name in ("witness_timeout_ms", "per_node_timeout_ms", "default_query_timeout_ms"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{path}: {name} must be a positive number of ms")
    if config.openings_retention_days < MIN_OPENINGS_RETENTION_DAYS:
        raise ConfigError(
            f"{path}: openings_retention_days must be at least "
            f"{MIN_OPENINGS_RETENTION_DAYS}: a warrant's plates stay matchable as "
            "long as the warrant can be in force"
        )
    config.tls.check(f"{path} [tls]")
    config.node_tls.check(f"{path} [node_tls]")
    return config


def _id(value: str, path: Path) -> str:
    try:
        return check_identifier(value, field_name="id")
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _state(value: str, path: Path) -> str:
    try:
        return check_state(value)
    except Exception as exc:
        raise ConfigError(f"{path}: {exc}") from None


def _database_url(url: str, base: Path) -> str:
    """``sqlite:///relative.db`` is relative to the config file; other URLs pass unchanged."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix + ":memory:":
        return prefix + str((base / url[len(prefix) :]).resolve())
    return url


def federation_roots(tls: TLSConfig) -> list[x509.Certificate]:
    """The federation roots of a TLS configuration's CA bundle (none without one).

    Raises:
        ConfigError: the bundle is unreadable or not PEM certificates.
    """
    if tls.ca is None:
        return []
    try:
        return x509.load_pem_x509_certificates(tls.ca.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"TLS ca {tls.ca}: {exc}") from None
