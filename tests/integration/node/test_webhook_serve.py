"""`alprfed node serve` with a [webhook] table, as an operator runs it: a token issued with
`alprfed node token`, a delivery over HTTPS, a revocation the running receiver honours."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from authority import Authority
from click.testing import CliRunner
from conftest import credential
from gateways import free_port

from agency_node.csv_import import read_cameras_file
from agency_node.storage import NodeStore
from alprfed.cli.main import cli
from alprfed.clock import SYSTEM_CLOCK
from alprfed.signing import SigningKey

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
VERKADA_CAMERA = "38718198-8a78-4718-a60f-68e1a8de30ac"
READY_TIMEOUT_S = 60.0  # how long the process may take to listen; not a speed assertion


def write_config(directory: Path, pki_dir: Path, database_url: str, webhook_port: int) -> Path:
    tls = credential(pki_dir, "sjpd", "node")
    gateway_key = SigningKey.generate()
    trust = Authority(directory, gateway_key, SYSTEM_CLOCK).trust_file()
    SigningKey.generate().save(directory / "node.key")
    path = directory / "node.toml"
    path.write_text(
        "[node]\n"
        'agency_id = "sjpd"\n'
        'state = "CA"\n'
        f'database_url = "{database_url}"\n'
        'signing_key = "node.key"\n'
        f'gateway_key = "{gateway_key.public.to_text()}"\n'
        f'trust = "{trust}"\n'
        "retention_seconds = 2592000\n"
        f'listen = "localhost:{free_port()}"\n'
        "[tls]\n"
        f'ca = "{tls.ca}"\ncert = "{tls.cert}"\nkey = "{tls.key}"\n'
        "[webhook]\n"
        f'listen = "localhost:{webhook_port}"\n'
        'tokens = "camera-tokens.json"\n'
    )
    return path


def post(port: int, ca: Path, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    context = ssl.create_default_context(cafile=str(ca))
    connection = http.client.HTTPSConnection("localhost", port, context=context, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/webhooks/verkada-lpr",
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"},
        )
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def wait_listening(port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()[1]
        try:
            with socket.create_connection(("localhost", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise AssertionError(f"the webhook receiver never listened on port {port}")


@pytest.fixture
def serving(
    tmp_path: Path, pki_dir: Path, database_url: str
) -> Iterator[tuple[Path, int, subprocess.Popen[str]]]:
    port = free_port()
    config = write_config(tmp_path, pki_dir, database_url, port)
    with NodeStore.open(database_url) as store:
        store.upsert_cameras(read_cameras_file(FIXTURES / "cameras.csv"))
    process = subprocess.Popen(
        [sys.executable, "-m", "alprfed", "node", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_listening(port, process)
        yield config, port, process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.slow
def test_a_served_node_takes_deliveries_and_honours_revocation(
    serving: tuple[Path, int, subprocess.Popen[str]], pki_dir: Path
) -> None:
    config, port, process = serving
    ca = credential(pki_dir, "sjpd", "node").ca
    assert ca is not None
    issued = CliRunner().invoke(
        cli, ["node", "token", "issue", VERKADA_CAMERA, "--config", str(config)]
    )
    assert issued.exit_code == 0, issued.output
    token = issued.stdout.strip()
    body = json.loads((FIXTURES / "verkada-lpr.json").read_text())
    body["data"]["created"] = int(time.time()) - 60  # the served node runs on the real clock

    delivered = post(port, ca, token, json.dumps(body).encode())
    revoked = CliRunner().invoke(
        cli, ["node", "token", "revoke", VERKADA_CAMERA, "--config", str(config)]
    )
    after_revocation = post(port, ca, token, json.dumps(body).encode())

    assert delivered == (200, {"stored": 1, "duplicates_skipped": 0})
    assert revoked.exit_code == 0, revoked.output
    assert after_revocation == (401, {"error": "authentication required"})
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "webhook receiver on https://localhost:" in out
    assert "Traceback" not in err
