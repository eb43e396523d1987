"""Configuration files: a bad file stops the service with the file and key named."""

from __future__ import annotations

from pathlib import Path

import pytest

from alprfed.config import load_federation, load_node_config
from alprfed.errors import ConfigError
from alprfed.signing import SigningKey

GATEWAY_KEY = SigningKey.generate().public.to_text()


def node_toml(tmp_path: Path, **overrides: str) -> Path:
    values = {
        "agency_id": '"sjpd"',
        "state": '"CA"',
        "database_url": '"sqlite:///n.db"',
        "signing_key": '"k.pem"',
        "gateway_key": f'"{GATEWAY_KEY}"',
        "listen": '"127.0.0.1:7600"',
    }
    values.update(overrides)
    path = tmp_path / "node.toml"
    path.write_text("[node]\n" + "".join(f"{k} = {v}\n" for k, v in values.items()))
    return path


def test_a_valid_node_file_loads_with_paths_relative_to_it(tmp_path: Path) -> None:
    config = load_node_config(node_toml(tmp_path), insecure=True)
    assert config.signing_key == tmp_path / "k.pem"
    assert config.database_url == f"sqlite:///{(tmp_path / 'n.db').resolve()}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"gateway_adress": '"gw:7443"'}, "unknown key(s) 'gateway_adress'"),
        ({"listen": '"127.0.0.1:99999"'}, "port from 0 to 65535"),
        ({"listen": '"7600"'}, "HOST:PORT"),
        ({"gateway_address": '"gw:0"'}, "port from 1"),
        ({"state": '"ZZ"'}, "ZZ"),
        ({"agency_id": '"SJPD PD"'}, "not a valid id"),
        ({"retention_seconds": "-5"}, "positive"),
        ({"gateway_key": '"rsa:AAAA"'}, "ed25519:"),
    ],
)
def test_bad_node_files_are_refused_naming_the_problem(
    tmp_path: Path, override: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_node_config(node_toml(tmp_path, **override), insecure=True)


def test_tls_is_required_unless_insecure(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TLS needs"):
        load_node_config(node_toml(tmp_path))


def test_unknown_tables_and_agency_keys_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "federation.toml"
    base = (
        f'[federation]\nname = "f"\norigin = "o.example/log"\ngateway_key = "{GATEWAY_KEY}"\n'
        '[[agency]]\nid = "sjpd"\nname = "SJPD"\nstate = "CA"\nkind = "local"\n'
    )
    path.write_text(base)
    assert list(load_federation(path).agencies) == ["sjpd"]
    path.write_text(base + 'declaration = ["IL"]\n')  # misspelt "declarations"
    with pytest.raises(ConfigError, match="'declaration'"):
        load_federation(path)
    path.write_text(base + "[agencies]\n")
    with pytest.raises(ConfigError, match="'agencies'"):
        load_federation(path)


def test_openings_must_outlive_any_warrant(tmp_path: Path) -> None:
    from alprfed.config import load_gateway_config

    federation = tmp_path / "federation.toml"
    federation.write_text(
        f'[federation]\nname = "f"\norigin = "o.example/log"\ngateway_key = "{GATEWAY_KEY}"\n'
        '[[agency]]\nid = "sjpd"\nname = "SJPD"\nstate = "CA"\nkind = "local"\n'
    )
    gateway = tmp_path / "gateway.toml"
    gateway.write_text(
        '[gateway]\nfederation = "federation.toml"\n'
        'database_url = "sqlite:///g.db"\nsigning_key = "q.pem"\n'
        'ledger_key = "l.pem"\nopenings_retention_days = 30\n'
    )
    with pytest.raises(ConfigError, match="at least 367"):
        load_gateway_config(gateway, insecure=True)


FEDERATION_BASE = (
    f'[federation]\nname = "f"\norigin = "o.example/log"\ngateway_key = "{GATEWAY_KEY}"\n'
    '[[agency]]\nid = "ice-ero"\nname = "ICE"\nstate = "DC"\nkind = "federal"\n'
)
COURT_KEY = SigningKey.generate().public.to_text()


def court_table(**overrides: str | None) -> str:
    values: dict[str, str | None] = {
        "id": '"us-district-dc"',
        "name": '"U.S. District Court for the District of Columbia"',
        "key": f'"{COURT_KEY}"',
        "kind": '"federal"',
        "states": '["DC"]',
    }
    values.update(overrides)
    return "[[court]]\n" + "".join(f"{k} = {v}\n" for k, v in values.items() if v is not None)


def test_a_courts_kind_and_states_are_its_jurisdiction(tmp_path: Path) -> None:
    from alprfed.config import CourtKind

    path = tmp_path / "federation.toml"
    path.write_text(FEDERATION_BASE + court_table())
    court = load_federation(path).courts["us-district-dc"]
    assert court.kind is CourtKind.FEDERAL
    assert court.states == frozenset({"DC"})
    path.write_text(FEDERATION_BASE + court_table(id='"sc"', kind='"state"', states='["CA"]'))
    assert load_federation(path).courts["sc"].kind is CourtKind.STATE


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"kind": None}, "missing required key 'kind'"),  # no silent default
        ({"kind": '"tribal"'}, "kind must be state or federal"),
        ({"kind": "1"}, "'kind' has the wrong type"),
        ({"states": None}, "states must name the court's state"),
        ({"states": "[]"}, "states must name the court's state"),
        ({"state": '"DC"'}, "unknown key"),  # misspelt "states"
    ],
)
def test_a_court_without_a_clear_jurisdiction_is_refused(
    tmp_path: Path, overrides: dict[str, str | None], message: str
) -> None:
    path = tmp_path / "federation.toml"
    path.write_text(FEDERATION_BASE + court_table(**overrides))
    with pytest.raises(ConfigError, match=message) as raised:
        load_federation(path)
    assert str(path) in str(raised.value)


def test_a_court_listed_twice_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "federation.toml"
    path.write_text(FEDERATION_BASE + court_table() + court_table(kind='"state"'))
    with pytest.raises(ConfigError, match="listed twice"):
        load_federation(path)


def test_a_path_holding_a_line_break_is_named_in_one_line(tmp_path: Path) -> None:
    """Found by the file fuzzer (issue 16): the "o" of ``"../federation.toml"`` in gateway.toml
    flipped to a backslash made the path hold a line break, and the error naming it printed as
    two lines."""
    from alprfed.config import load_gateway_config

    gateway = tmp_path / "gateway.toml"
    gateway.write_text(
        '[gateway]\nfederation = "../federati\\n.toml"\n'
        'database_url = "sqlite:///g.db"\nsigning_key = "q.pem"\nledger_key = "l.pem"\n'
    )
    with pytest.raises(ConfigError) as refused:
        load_gateway_config(gateway, insecure=True)
    said = str(refused.value)
    assert said.splitlines() == [said]
    assert "federati\\n.toml" in said  # the path as written, the break shown escaped
