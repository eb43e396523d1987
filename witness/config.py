"""The witness's configuration: a frozen dataclass built once from TOML by the CLI.

::

    [witness]
    name = "witness.ca-state-auditor.example/w1"   # the key name of its cosignatures
    signing_key = "witness-key.pem"                # Ed25519 PEM (alprfed witness keygen)
    database_url = "sqlite:///witness.db"          # or postgresql+psycopg://...
    listen = "0.0.0.0:8443"                        # HOST:PORT; port 0 picks a free one

    [tls]                                          # optional: serve HTTPS
    cert = "witness-cert.pem"
    key = "witness-tls-key.pem"

    [[log]]                                        # one table per log it witnesses
    origin = "ledger.example-federation.org/v1"
    keys = ["ledger.example-federation.org/v1+1a2b3c4d+AU..."]

Relative paths (and ``sqlite:///relative.db``) are relative to the file. Unknown keys are
errors: a misspelt key must not silently change what the witness trusts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from alprfed.config import _database_url, _Table, read_toml
from alprfed.config_env import ConfigSchema, apply_environment
from alprfed.errors import ConfigError
from alprfed.ledger.note import NoteError, NoteVerifier, check_key_name
from alprfed.observability.settings import (
    OBSERVABILITY_KEYS,
    ObservabilitySettings,
    read_observability,
)

ROOT_KEYS = {"witness", "tls", "log"}
WITNESS_KEYS = {"name", "signing_key", "database_url", "listen", *OBSERVABILITY_KEYS}
TLS_KEYS = {"cert", "key"}
LOG_KEYS = {"origin", "keys"}
DEFAULT_LISTEN = "127.0.0.1:0"
# What ALPRFED_WITNESS_* variables and *_file secrets may set (alprfed.config_env).
WITNESS_SCHEMA = ConfigSchema(
    service="witness",
    tables={"witness": frozenset(WITNESS_KEYS), "tls": frozenset(TLS_KEYS)},
    secrets={"witness": frozenset({"database_url"})},
)


@dataclass(frozen=True)
class WitnessTLS:
    """The witness's HTTPS certificate chain and private key, both PEM."""

    cert: Path
    key: Path


@dataclass(frozen=True)
class WitnessedLog:
    """A log the witness cosigns for: its origin and the keys whose signatures it trusts."""

    origin: str
    keys: tuple[NoteVerifier, ...]


@dataclass(frozen=True)
class WitnessConfig:
    name: str  # the witness's key name; its vkey is name+keyID+base64(0x04 || public key)
    signing_key: Path
    database_url: str
    logs: Mapping[str, WitnessedLog]  # by origin
    listen: str = DEFAULT_LISTEN
    tls: WitnessTLS | None = None  # None: plain HTTP (loopback, or behind a TLS proxy)
    # metrics_listen, log_format, tracing_* (reflection has no meaning: no gRPC here)
    observability: ObservabilitySettings = field(default_factory=ObservabilitySettings)


def load_witness_config(path: Path, *, environ: Mapping[str, str] | None = None) -> WitnessConfig:
    """Read a witness TOML file with the ALPRFED_WITNESS_* variables of ``environ`` applied.

    Raises:
        ConfigError: unreadable or malformed TOML, an unknown or missing key, a name or origin
            that cannot be a note key name, a log key that is malformed or not named after its
            origin, an origin listed twice, no log at all, or TLS files that do not exist.
    """
    data = apply_environment(read_toml(path), WITNESS_SCHEMA, environ or {}, path)
    root = _Table(data, str(path), path.parent, ROOT_KEYS)
    table = root.table("witness", WITNESS_KEYS)
    name = table.text("name")
    try:
        check_key_name(name)
    except NoteError as exc:
        raise ConfigError(f"{path} [witness]: 'name': {exc.detail}") from None
    signing_key = table.path("signing_key")
    database_url = _database_url(table.text("database_url"), path.parent)
    listen = table.address("listen", DEFAULT_LISTEN, any_port=True)
    logs: dict[str, WitnessedLog] = {}
    for position, raw in enumerate(root.items("log"), start=1):
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: 'log' must be an array of tables ([[log]])")
        witnessed = _log(_Table(raw, f"{path} [[log]] #{position}", path.parent, LOG_KEYS))
        if witnessed.origin in logs:
            raise ConfigError(f"{path}: log {witnessed.origin!r} is listed twice")
        logs[witnessed.origin] = witnessed
    if not logs:
        raise ConfigError(f"{path}: no [[log]] table; a witness without logs cosigns nothing")
    return WitnessConfig(
        name=name,
        signing_key=signing_key,
        database_url=database_url,
        logs=MappingProxyType(logs),
        listen=listen,
        tls=_tls(root, path),
        observability=read_observability(table),
    )


def _log(table: _Table) -> WitnessedLog:
    origin = table.text("origin")
    try:
        check_key_name(origin)
    except NoteError as exc:
        raise ConfigError(f"{table.where}: 'origin': {exc.detail}") from None
    raw_keys = table.items("keys")
    if not raw_keys:
        raise ConfigError(f"{table.where}: 'keys' must list at least one log verifier key")
    keys: list[NoteVerifier] = []
    for position, vkey in enumerate(raw_keys, start=1):
        if not isinstance(vkey, str):
            raise ConfigError(f"{table.where}: 'keys' #{position} is not a string")
        try:
            verifier = NoteVerifier.from_vkey(vkey)
        except NoteError as exc:
            raise ConfigError(f"{table.where}: 'keys' #{position}: {exc.detail}") from None
        # An alprfed log (and any C2SP checkpoint log) signs under a key named after its origin;
        # a key of another name could never verify a checkpoint of this origin.
        if verifier.name != origin:
            raise ConfigError(
                f"{table.where}: 'keys' #{position} is named {verifier.name!r}, not after the "
                f"origin {origin!r}"
            )
        if verifier in keys:
            raise ConfigError(f"{table.where}: 'keys' #{position} is listed twice")
        keys.append(verifier)
    return WitnessedLog(origin, tuple(keys))


def _tls(root: _Table, path: Path) -> WitnessTLS | None:
    if "tls" not in root.data:
        return None
    table = root.table("tls", TLS_KEYS)
    tls = WitnessTLS(cert=table.path("cert"), key=table.path("key"))
    for what, file in (("cert", tls.cert), ("key", tls.key)):
        if not file.is_file():
            raise ConfigError(f"{path} [tls]: {what} file {file} does not exist")
    return tls
