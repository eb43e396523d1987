"""An operator's bad setting: one line naming it, exit 1, nothing changed on disk.

Each case edits one setting of a real federation layout and starts the real service process
(`alprfed gateway serve`, `alprfed node serve`): a port another process holds, a host that is
not this machine's or does not resolve, garbage TLS material, a key that is not the
certificate's, a database URL naming a file that is no database, impossible intervals and key
lists. Nothing under the layout may be created or modified by the failed start.
"""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import faults
import pytest

from alprfed.demo.layout import Layout

GARBAGE = "not a certificate\n"


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    built = faults.small_layout(tmp_path_factory.mktemp("bad-configs") / "fed")
    (built.root / "garbage.pem").write_text(GARBAGE)
    (built.root / "not-a-database.db").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20)
    return built


@pytest.fixture(scope="module")
def taken_port() -> Iterator[int]:
    """A port another process listens on, on 127.0.0.1 (so 'localhost' is half taken)."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def edit(text: str, key: str, value: str, *, first_only: bool = True) -> str:
    """Set ``key = value`` (value is TOML), replacing the first such line or adding it to the
    first table."""
    line = f"{key} = {value}"
    pattern = re.compile(rf"^{re.escape(key)} = .*$", re.MULTILINE)
    if pattern.search(text):
        return pattern.sub(line, text, count=1 if first_only else 0)
    return text.replace("]\n", "]\n" + line + "\n", 1)


GATEWAY_CASES = {
    "listen_port_in_use": ("listen", '"localhost:{taken}"', "listen 'localhost:{taken}'"),
    "listen_host_not_this_machine": ("listen", '"203.0.113.77:7443"', "listen '203.0.113.77"),
    "listen_host_unresolvable": ("listen", '"no-such-host.invalid:7443"', "cannot resolve"),
    "garbage_tls_cert": ("cert", '"{root}/garbage.pem"', "TLS cert"),
    "garbage_tls_ca": ("ca", '"{root}/garbage.pem"', "TLS ca"),
    "tls_key_of_another_certificate": (
        "key",
        '"{root}/pki/orgs/sjpd/principals/node/key.pem"',
        "is not the private key of the certificate",
    ),
    "database_url_not_a_database": (
        "database_url",
        '"sqlite:///{root}/not-a-database.db"',
        "database_url: the ledger database cannot be used",
    ),
    "per_node_timeout_zero": ("per_node_timeout_ms", "0", "per_node_timeout_ms must be a positive"),
}
NODE_CASES = {
    "listen_port_in_use": ("listen", '"localhost:{taken}"', "listen 'localhost:{taken}'"),
    "garbage_tls_cert": ("cert", '"{root}/garbage.pem"', "TLS cert"),
    "database_url_not_a_database": (
        "database_url",
        '"sqlite:///{root}/not-a-database.db"',
        "database_url: the agency node database cannot be used",
    ),
    "purge_interval_zero": ("purge_interval_seconds", "0", "'purge_interval_seconds' must be"),
    "purge_interval_negative": ("purge_interval_seconds", "-5", "'purge_interval_seconds' must"),
    "gateway_keys_not_texts": ("gateway_keys", "[123]", "'gateway_keys' must be a list of key"),
    "gateway_keys_not_keys": ("gateway_keys", '["ed25519:AAAA"]', "'gateway_keys'"),
}


def serve_once(service: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alprfed", service, "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def attempt(
    layout: Layout, taken: int, service: str, config: Path, case: tuple[str, str, str]
) -> tuple[subprocess.CompletedProcess[str], str]:
    key, value, expected = (part.format(root=layout.root, taken=taken) for part in case)
    original = config.read_text()
    broken = edit(original, key, value)
    if key == "gateway_keys":
        broken = re.sub(r"^gateway_key = .*\n", "", broken, flags=re.MULTILINE)
    config.write_text(broken)
    before = snapshot(layout.root)
    try:
        result = serve_once(service, config)
    finally:
        after = snapshot(layout.root)
        config.write_text(original)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed == {str(config.relative_to(layout.root))} or not changed, changed
    return result, expected


def check_one_clear_line(result: subprocess.CompletedProcess[str], expected: str) -> None:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("case", GATEWAY_CASES.values(), ids=GATEWAY_CASES.keys())
def test_a_gateway_with_a_bad_setting_says_which_and_changes_nothing(
    layout: Layout, taken_port: int, case: tuple[str, str, str]
) -> None:
    result, expected = attempt(layout, taken_port, "gateway", layout.gateway_config, case)
    check_one_clear_line(result, expected)


@pytest.mark.parametrize("case", NODE_CASES.values(), ids=NODE_CASES.keys())
def test_a_node_with_a_bad_setting_says_which_and_changes_nothing(
    layout: Layout, taken_port: int, case: tuple[str, str, str]
) -> None:
    result, expected = attempt(layout, taken_port, "node", layout.node_config("sjpd"), case)
    check_one_clear_line(result, expected)


ENVIRONMENT_CASES = {
    "misspelt_variable": ({"ALPRFED_NODE_LISTN": "127.0.0.1:7600"}, "ALPRFED_NODE_LISTN name"),
    "variable_not_an_integer": (
        {"ALPRFED_NODE_PURGE_INTERVAL_SECONDS": "hourly"},
        "ALPRFED_NODE_PURGE_INTERVAL_SECONDS: 'purge_interval_seconds' must be an integer",
    ),
    "variable_port_in_use": ({"ALPRFED_NODE_LISTEN": "localhost:{taken}"}, "listen 'localhost"),
    "secret_file_missing": (
        {"ALPRFED_NODE_DATABASE_URL_FILE": "{root}/no-such-secret"},
        "ALPRFED_NODE_DATABASE_URL_FILE: cannot read secret file",
    ),
}


@pytest.mark.parametrize("case", ENVIRONMENT_CASES.values(), ids=ENVIRONMENT_CASES.keys())
def test_a_node_with_a_bad_variable_says_which_and_changes_nothing(
    layout: Layout, taken_port: int, case: tuple[dict[str, str], str]
) -> None:
    import os

    variables, expected = case
    environ = dict(os.environ)
    environ.update({k: v.format(root=layout.root, taken=taken_port) for k, v in variables.items()})
    before = snapshot(layout.root)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alprfed",
            "node",
            "serve",
            "--config",
            str(layout.node_config("sjpd")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environ,
    )
    assert snapshot(layout.root) == before
    check_one_clear_line(result, expected.format(taken=taken_port))
