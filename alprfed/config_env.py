"""Settings from the environment and secrets from files, for every service's TOML file.

A deployment keeps one TOML file per service under version control and supplies what differs
per host, or must not sit in the file, through the environment (a systemd unit's
``Environment=``, a container's ``environment:``) or a file (a systemd credential, a mounted
container secret):

* ``ALPRFED_<SERVICE>_<KEY>`` overrides key ``<KEY>`` of the service's own table
  (``ALPRFED_NODE_DATABASE_URL`` is ``[node] database_url`` of node.toml), and
  ``ALPRFED_<SERVICE>_<TABLE>_<KEY>`` a key of another table (``ALPRFED_GATEWAY_NODE_TLS_CERT``
  is ``[node_tls] cert`` of gateway.toml).
* A secret key ``<key>`` (the database URLs, which carry a password) may instead be given as
  ``<key>_file`` in the TOML file or ``ALPRFED_..._<KEY>_FILE``: the file's contents, less one
  trailing newline, are the value. The secret then never appears in a file under version
  control, in ``ps`` output or in ``systemctl show``.

The environment wins over the file; within one source a key and its ``_file`` form together
are an error, as is an ``ALPRFED_<SERVICE>_`` variable that names no key (a misspelt variable
must not silently leave a setting at its file's value).

Nothing here reads ``os.environ``: the CLI passes it in (config once, see alprfed.config). The
variables are derived from each file's :class:`ConfigSchema`, the same key sets the loaders
enforce, so a key added later is overridable and appears in docs/OPERATIONS.md's table (a test
compares the table with :func:`environment_table`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alprfed.errors import ConfigError

ENV_PREFIX = "ALPRFED_"
FILE_FORM_SUFFIX = "_file"


class EnvText(str):
    """A value taken from the environment or a secret file: text, converted to the type the
    loader asks for (alprfed.config._Table), with errors that name where it came from."""

    source: str

    def __new__(cls, value: str, source: str) -> EnvText:
        text = super().__new__(cls, value)
        text.source = source
        return text


@dataclass(frozen=True)
class ConfigSchema:
    """The overridable tables of one service's TOML file.

    ``tables`` maps each plain table to the keys it may hold (the loader's known-key set);
    arrays of tables (``[[log]]``) are lists of documents, not settings, and are not listed.
    ``secrets`` names the keys, per table, that also accept a ``_file`` form.
    """

    service: str  # "node", "gateway", "witness": the file's own table and the variables' infix
    tables: Mapping[str, frozenset[str]]
    secrets: Mapping[str, frozenset[str]] = field(default_factory=dict)

    def variable(self, table: str, key: str) -> str:
        inner = key if table == self.service else f"{table}_{key}"
        return f"{ENV_PREFIX}{self.service}_{inner}".upper()

    def settings(self) -> Iterator[tuple[str, str, str]]:
        """(table, key, variable) for every overridable key, secret ``_file`` forms included."""
        for table in sorted(self.tables, key=lambda t: (t != self.service, t)):
            for key in sorted(self.tables[table]):
                yield table, key, self.variable(table, key)
                if key in self.secrets.get(table, ()):
                    file_key = key + FILE_FORM_SUFFIX
                    yield table, file_key, self.variable(table, file_key)


def apply_environment(
    data: Mapping[str, Any], schema: ConfigSchema, environ: Mapping[str, str], path: Path
) -> dict[str, Any]:
    """The TOML document ``data`` (of the file ``path``) with overrides and secret files applied.

    Raises:
        ConfigError: an unknown ``ALPRFED_<SERVICE>_`` variable, a key given with its ``_file``
            form, an unreadable secret file, or a table the file holds as something else.
    """
    known = {variable: (table, key) for table, key, variable in schema.settings()}
    prefix = f"{ENV_PREFIX}{schema.service}_".upper()
    unknown = sorted(name for name in environ if name.startswith(prefix) and name not in known)
    if unknown:
        raise ConfigError(
            f"environment: {', '.join(unknown)} name(s) no {schema.service} setting; the "
            "variables are listed in docs/OPERATIONS.md"
        )
    merged = dict(data)
    for table in schema.tables:
        original = merged.get(table, {})
        if not isinstance(original, dict):
            raise ConfigError(f"{path}: [{table}] must be a table")
        from_env = {
            key: EnvText(environ[variable], variable)
            for variable, (t, key) in known.items()
            if t == table and variable in environ
        }
        if not from_env and not schema.secrets.get(table):
            continue
        values = dict(original)
        for key in schema.secrets.get(table, ()):
            _resolve_secret(values, from_env, key, f"{path} [{table}]", path.parent)
        values.update(from_env)
        if values or table in merged:
            merged[table] = values
    return merged


def _resolve_secret(
    values: dict[str, Any], from_env: dict[str, EnvText], key: str, where: str, base: Path
) -> None:
    """Replace ``<key>_file`` (in the file or the environment) with the file's contents."""
    file_key = key + FILE_FORM_SUFFIX
    for source, layer in (("environment", from_env), (where, values)):
        if key in layer and file_key in layer:
            raise ConfigError(f"{source}: give {key!r} or {file_key!r}, not both")
    if key in from_env or file_key in from_env:
        # The environment replaces the setting, whichever form either source gives it in.
        values.pop(key, None)
        values.pop(file_key, None)
        if file_key not in from_env:
            return
        named: Any = from_env.pop(file_key)
        origin, layer = named.source, from_env
    elif file_key in values:
        named, origin, layer = values.pop(file_key), f"{where} {file_key!r}", values
    else:
        return
    if not isinstance(named, str):
        raise ConfigError(f"{origin}: must be the path of a file")
    secret_path = base / named
    try:
        secret = secret_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise ConfigError(f"{origin}: cannot read secret file {secret_path}: {reason}") from None
    secret = secret.removesuffix("\n").removesuffix("\r")
    if not secret:
        raise ConfigError(f"{origin}: secret file {secret_path} is empty")
    # Errors about the value name where it came from, never the value itself.
    layer[key] = EnvText(secret, f"{origin} (file {secret_path})")


def convert(value: EnvText, kind: type | tuple[type, ...], key: str) -> Any:
    """``value`` as the type a loader asks for; bool is true/false, a list a TOML array.

    Raises:
        ConfigError: naming the variable, when the text is not of that type.
    """
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if str in kinds:
        return str(value)
    text = value.strip()
    if int in kinds and text.lstrip("+-").isdigit():
        return int(text)
    if bool in kinds and text in ("true", "false"):
        return text == "true"
    if list in kinds:
        try:
            parsed = tomllib.loads(f"v = {text}")["v"]
        except tomllib.TOMLDecodeError:
            parsed = None
        if isinstance(parsed, list):
            return parsed
    wanted = " or ".join(_TYPE_WORDS.get(k, k.__name__) for k in kinds)
    raise ConfigError(f"{value.source}: {key!r} must be {wanted}, not {str(value)!r}")


_TYPE_WORDS = {int: "an integer", bool: "true or false", list: 'a TOML array (["a", "b"])'}


def environment_table(schemas: list[tuple[str, ConfigSchema]]) -> str:
    """The Markdown table of every variable, for docs/OPERATIONS.md (``file`` names each)."""
    lines = ["| variable | file | setting |", "|---|---|---|"]
    for file_name, schema in schemas:
        for table, key, variable in schema.settings():
            lines.append(f"| `{variable}` | {file_name} | `[{table}] {key}` |")
    return "\n".join(lines)
