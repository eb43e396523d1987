"""deploy/: the compose stack, the Containerfiles and the systemd units name only settings and
files that exist.

The compose federation is built for real (alprfed.demo.compose), each service's config is
loaded with the environment compose gives it, and the gateway and a node open their real
PostgreSQL databases through the secret-file URLs, as the containers would. The systemd units'
ALPRFED_* variables must each be a setting of the service the unit runs.
"""

from __future__ import annotations

import importlib.util
import re
import stat
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from alprfed.config import GATEWAY_SCHEMA, NODE_SCHEMA, load_gateway_config, load_node_config
from alprfed.config_env import ConfigSchema
from alprfed.demo import compose
from witness.config import WITNESS_SCHEMA, load_witness_config

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SCHEMAS = {"gateway": GATEWAY_SCHEMA, "node": NODE_SCHEMA, "witness": WITNESS_SCHEMA}
MOUNT = "/federation"


@pytest.fixture(scope="module")
def stack() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    return data


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("compose-federation")
    assert compose.build(root, "pw with/odd:chars@")
    assert not compose.build(root, "another")  # a restarted stack keeps what it has
    return root


def alprfed_services(stack: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        name: service
        for name, service in stack["services"].items()
        if service.get("command", [""])[0] in SCHEMAS
    }


def local(path: str, root: Path) -> Path:
    assert path.startswith(MOUNT + "/"), path
    return root / path.removeprefix(MOUNT + "/")


def test_every_service_loads_its_config_with_the_compose_environment(
    stack: dict[str, Any], federation: Path
) -> None:
    services = alprfed_services(stack)
    assert sorted(s["command"][0] for s in services.values()).count("node") == 2
    for name, service in services.items():
        kind, _, _, config_path = service["command"]
        environ = {
            key: (str(local(value, federation)) if value.startswith(MOUNT) else value)
            for key, value in service.get("environment", {}).items()
        }
        path = local(config_path, federation)
        if kind == "node":
            config: Any = load_node_config(path, environ=environ)
        elif kind == "gateway":
            config = load_gateway_config(path, environ=environ)
        else:
            config = load_witness_config(path, environ=environ)
        if kind != "witness":
            assert config.database_url.startswith("postgresql+psycopg://alprfed:"), name
            assert "@db:5432/" in config.database_url, name


def test_database_urls_are_secret_files_naming_the_databases_initdb_creates(
    federation: Path,
) -> None:
    created = set(re.findall(r"CREATE DATABASE (\w+)", (DEPLOY / "compose/initdb.sql").read_text()))
    for service in ("gateway", *compose.NODE_AGENCIES):
        secret = federation / "secrets" / f"{service}-database-url"
        assert stat.S_IMODE(secret.stat().st_mode) == 0o600
        url = sa.engine.make_url(secret.read_text().strip())
        assert url.database in created
        assert url.password == "pw with/odd:chars@"
        # The file itself never holds the URL: the secret stays out of the TOML.
        config = (
            federation
            / ("gateway/gateway.toml" if service == "gateway" else f"nodes/{service}/node.toml")
        ).read_text()
        assert "pw with" not in config


@pytest.mark.postgres
def test_a_node_opens_its_database_through_the_secret_file(
    federation: Path, postgres_url: str
) -> None:
    """The URL-from-file path end to end on a real server: the node's store is created."""
    from agency_node.storage.store import NodeStore

    secret = federation / "pg-url"
    secret.write_text(postgres_url + "\n")
    config = load_node_config(
        federation / "nodes/sjpd/node.toml",
        environ={"ALPRFED_NODE_DATABASE_URL_FILE": str(secret)},
    )
    assert config.database_url == postgres_url
    store = NodeStore.open(config.database_url)
    try:
        assert store.schema_version >= 1
    finally:
        store.close()


def unit_variables(unit: Path) -> tuple[str, set[str]]:
    """The service a unit runs and the ALPRFED_* variables it sets. Read line by line, not
    with configparser: systemd repeats keys (Environment=, LoadCredential=)."""
    text = unit.read_text()
    variables = set(re.findall(r"^Environment=(ALPRFED_\w+)=", text, re.MULTILINE))
    return unit.stem.removeprefix("alprfed-"), variables


@pytest.mark.parametrize(
    "unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=lambda p: p.stem
)
def test_units_set_only_settings_their_service_has(unit: Path) -> None:
    service, variables = unit_variables(unit)
    schema: ConfigSchema = SCHEMAS[service]
    known = {variable for _, _, variable in schema.settings()}
    assert variables, unit
    assert variables <= known, variables - known
    assert f"alprfed {service} serve" in unit.read_text()


# What the issue asks of every unit, each of which `systemd-analyze security` weighs too little
# for its score alone to notice one going missing.
REQUIRED_HARDENING = (
    "NoNewPrivileges=yes",
    "ProtectSystem=strict",
    "ProtectHome=yes",
    "PrivateTmp=yes",
    "PrivateDevices=yes",
    "CapabilityBoundingSet=",
    "RestrictSUIDSGID=yes",
    "SystemCallFilter=@system-service",
    "UMask=0077",
)


@pytest.mark.parametrize(
    "unit", sorted((DEPLOY / "systemd").glob("*.service")), ids=lambda p: p.stem
)
def test_units_run_as_their_own_user_on_a_read_only_system(unit: Path) -> None:
    lines = set(unit.read_text().splitlines())
    service = unit.stem
    assert f"User={service}" in lines
    assert f"StateDirectory={service}" in lines
    missing = [d for d in REQUIRED_HARDENING if d not in lines]
    assert not missing, f"{unit.name} lacks {missing}"
    sysusers = (DEPLOY / "systemd/alprfed.sysusers.conf").read_text()
    assert re.search(rf"^u {service}\s", sysusers, re.MULTILINE)


def containerfile_stages(path: Path) -> list[list[str]]:
    """The instructions of each stage (continuation lines joined), the global ARGs first."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    lines = [line.strip() for line in joined.splitlines()]
    stages: list[list[str]] = [[]]
    for line in lines:
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_containerfile_takes_its_base_as_an_argument_defaulting_to_the_public_image() -> None:
    global_args, *stages = containerfile_stages(DEPLOY / "Containerfile")
    assert global_args == ["ARG BASE=docker.io/library/python:3.11-slim-bookworm"]
    assert [stage[0].split()[1] for stage in stages] == ["${BASE}", "${BASE}"]


def test_containerfile_final_stage_is_the_venv_alone_run_by_uid_10001() -> None:
    _, build, final = containerfile_stages(DEPLOY / "Containerfile")
    assert any("python3 -m venv /opt/alprfed" in line for line in build)
    final_text = "\n".join(final)
    assert "COPY --from=build /opt/alprfed /opt/alprfed" in final
    # Nothing is built or installed in the stage that ships: no pip, no compiler, no apt.
    for tool in ("pip", "apt-get", "gcc", "COPY . "):
        assert tool not in final_text, tool
    assert "USER 10001:10001" in final
    assert final[-2:] == ['ENTRYPOINT ["/opt/alprfed/bin/alprfed"]', 'CMD ["--help"]']
    # USER comes before anything that runs as the service.
    assert final.index("USER 10001:10001") < final.index('ENTRYPOINT ["/opt/alprfed/bin/alprfed"]')


def test_the_setup_service_runs_a_module_the_package_has(stack: dict[str, Any]) -> None:
    setup = stack["services"]["setup"]
    python, flag, module = setup["entrypoint"]
    assert (python, flag) == ("python", "-m")
    assert importlib.util.find_spec(module) is not None
    assert setup["command"] == [MOUNT]


def test_services_in_the_gateways_network_namespace_start_after_it(stack: dict[str, Any]) -> None:
    sharing = {
        name: service["network_mode"].removeprefix("service:")
        for name, service in stack["services"].items()
        if service.get("network_mode", "").startswith("service:")
    }
    assert len(sharing) == 5  # two nodes, three witnesses
    for name, owner in sharing.items():
        assert owner in stack["services"][name]["depends_on"], name


def test_the_debian_override_builds_on_the_image_debian_base_makes(stack: dict[str, Any]) -> None:
    override = yaml.safe_load((DEPLOY / "compose.debian.yaml").read_text())
    match = re.search(
        r"^IMAGE=\$\{ALPRFED_BASE_IMAGE:-(\S+)\}$", (DEPLOY / "debian-base").read_text(), re.M
    )
    assert match
    base = match.group(1)
    assert set(override["services"]) <= set(stack["services"])
    for name, service in override["services"].items():
        assert service["build"]["args"]["BASE"] == base, name
    db = override["services"]["db"]
    postgres = DEPLOY / db["build"]["context"]
    assert containerfile_stages(postgres / "Containerfile")[0] == [f"ARG BASE={base}"]
    # The entry point honours every variable the compose file gives the official image.
    entrypoint = (postgres / "entrypoint").read_text()
    for variable in stack["services"]["db"]["environment"]:
        assert f"${{{variable}" in entrypoint, variable
