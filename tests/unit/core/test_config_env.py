"""ALPRFED_* variables and *_file secrets: every setting of every service file can come from the
environment, secrets from files, and docs/OPERATIONS.md lists every variable."""

from __future__ import annotations

from pathlib import Path

import pytest
from unit.core.test_config import node_toml

from alprfed.config import GATEWAY_SCHEMA, NODE_SCHEMA, load_node_config
from alprfed.config_env import environment_table
from alprfed.errors import ConfigError
from witness.config import WITNESS_SCHEMA, load_witness_config

DOC = Path(__file__).resolve().parents[3] / "docs" / "OPERATIONS.md"
SCHEMAS = [
    ("node.toml", NODE_SCHEMA),
    ("gateway.toml", GATEWAY_SCHEMA),
    ("witness.toml", WITNESS_SCHEMA),
]


def test_docs_list_every_variable_of_every_service() -> None:
    """Fails when a key is added to a loader's key set and docs/OPERATIONS.md is not updated."""
    expected = environment_table(SCHEMAS)
    assert expected in DOC.read_text(encoding="utf-8"), (
        "docs/OPERATIONS.md's table of ALPRFED_* variables is out of date; replace it with:\n"
        + expected
    )


def test_variable_names_are_unique_across_the_services() -> None:
    names = [variable for _, schema in SCHEMAS for _, _, variable in schema.settings()]
    assert len(names) == len(set(names))


def test_environment_overrides_the_file_with_the_type_the_key_needs(tmp_path: Path) -> None:
    path = node_toml(tmp_path)
    config = load_node_config(
        path,
        insecure=True,
        environ={
            "ALPRFED_NODE_LISTEN": "0.0.0.0:7601",
            "ALPRFED_NODE_PURGE_INTERVAL_SECONDS": "15",
            "ALPRFED_NODE_SIGNING_KEY": "/run/credentials/node/key.pem",
            "ALPRFED_GATEWAY_LISTEN": "not this service's",  # another service's: ignored
        },
    )
    assert config.listen == "0.0.0.0:7601"
    assert config.purge_interval_seconds == 15
    assert config.signing_key == Path("/run/credentials/node/key.pem")
    assert load_node_config(path, insecure=True).listen == "127.0.0.1:7600"  # file untouched


def test_a_list_setting_takes_a_toml_array(tmp_path: Path) -> None:
    from alprfed.signing import SigningKey

    keys = [SigningKey.generate().public.to_text() for _ in range(2)]
    config = load_node_config(
        node_toml(tmp_path),
        insecure=True,
        environ={"ALPRFED_NODE_GATEWAY_KEYS": f'["{keys[0]}", "{keys[1]}"]'},
    )
    assert [k.to_text() for k in config.gateway_keys] == keys


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"ALPRFED_NODE_LISTN": "0.0.0.0:1"}, "ALPRFED_NODE_LISTN name"),
        ({"ALPRFED_NODE_PURGE_INTERVAL_SECONDS": "soon"}, "ALPRFED_NODE_PURGE_INTERVAL_SECONDS"),
        ({"ALPRFED_NODE_LISTEN": "7600"}, "'listen' must be HOST:PORT"),
        ({"ALPRFED_NODE_GATEWAY_KEYS": "ed25519:AAAA"}, "a TOML array"),
        (
            {"ALPRFED_NODE_DATABASE_URL": "sqlite:///a.db", "ALPRFED_NODE_DATABASE_URL_FILE": "u"},
            "not both",
        ),
        ({"ALPRFED_NODE_DATABASE_URL_FILE": "/nonexistent/db-url"}, "cannot read secret file"),
    ],
)
def test_bad_variables_are_refused_naming_the_variable(
    tmp_path: Path, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_node_config(node_toml(tmp_path), insecure=True, environ=environ)


def test_a_secret_file_supplies_the_database_url_and_is_not_echoed(tmp_path: Path) -> None:
    url = "postgresql+psycopg://alprfed:s3cret-pw@db.internal/node"
    (tmp_path / "db-url").write_text(url + "\n")
    path = node_toml(tmp_path)
    text = path.read_text().replace(
        'database_url = "sqlite:///n.db"', 'database_url_file = "db-url"'
    )
    path.write_text(text)
    assert load_node_config(path, insecure=True).database_url == url
    # A variable replaces the file's secret, whichever form either uses.
    (tmp_path / "other-url").write_text("sqlite:////srv/node.db")
    overridden = load_node_config(
        path, insecure=True, environ={"ALPRFED_NODE_DATABASE_URL_FILE": str(tmp_path / "other-url")}
    )
    assert overridden.database_url == "sqlite:////srv/node.db"
    # An unusable secret is refused by where it came from, never by its contents.
    (tmp_path / "db-url").write_text("")
    with pytest.raises(ConfigError, match=r"'database_url_file'.*is empty"):
        load_node_config(path, insecure=True)


def test_key_and_its_file_form_together_in_one_file_are_refused(tmp_path: Path) -> None:
    path = node_toml(tmp_path, database_url_file='"db-url"')
    with pytest.raises(ConfigError, match="give 'database_url' or 'database_url_file', not both"):
        load_node_config(path, insecure=True)


def test_the_witness_reads_its_database_url_from_a_secret_file(tmp_path: Path) -> None:
    from alprfed.ledger.note import NoteVerifier
    from alprfed.signing import SigningKey

    origin = "ledger.example/v1"
    vkey = NoteVerifier.for_key(origin, SigningKey.generate().public).to_vkey()
    (tmp_path / "url").write_text("sqlite:////var/lib/alprfed-witness/witness.db\n")
    path = tmp_path / "witness.toml"
    path.write_text(
        '[witness]\nname = "w.example/w1"\nsigning_key = "w.pem"\n'
        f'listen = "127.0.0.1:0"\n[[log]]\norigin = "{origin}"\nkeys = ["{vkey}"]\n'
    )
    config = load_witness_config(
        path,
        environ={
            "ALPRFED_WITNESS_DATABASE_URL_FILE": str(tmp_path / "url"),
            "ALPRFED_WITNESS_LISTEN": "127.0.0.1:8443",
        },
    )
    assert config.database_url == "sqlite:////var/lib/alprfed-witness/witness.db"
    assert config.listen == "127.0.0.1:8443"
