"""`alprfed node|witness serve --log-format json` as an operator runs them: real processes
whose stderr is one JSON object a line, and whose metrics port answers while they serve."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from gateways import free_port
from probe_client import http_get
from witnesses import SigningLog, write_witness_toml

from alprfed.demo.layout import build_layout
from alprfed.demo.spec import DEMO
from alprfed.signing import SigningKey

STARTUP_S = 30


@contextmanager
def serving(*args: str) -> Iterator[subprocess.Popen[str]]:
    """``alprfed -v ARGS --log-format json`` as a process; killed if the test fails."""
    command = [sys.executable, "-m", "alprfed", "-v", *args, "--log-format", "json"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    """SIGTERM, as systemd stops a service; its stdout and stderr once it exited."""
    process.send_signal(signal.SIGTERM)
    return process.communicate(timeout=20)


def test_node_serve_logs_json_lines_and_serves_probes(tmp_path: Path) -> None:
    spec = replace(
        DEMO,
        agencies=tuple(a for a in DEMO.agencies if a.agency_id in ("sjpd", "ice-ero")),
        witnesses=(),
        witness_quorum=0,
    )
    layout = build_layout(
        tmp_path / "fed", spec, gateway_port=free_port(), node_ports={"sjpd": free_port()}
    )
    config = layout.node_config("sjpd")
    metrics_port = free_port()
    config.write_text(
        config.read_text().replace(
            "[node]\n", f'[node]\nmetrics_listen = "127.0.0.1:{metrics_port}"\n', 1
        )
    )
    with serving("node", "serve", "--config", str(config)) as process:
        status = 0
        deadline = time.monotonic() + STARTUP_S
        while time.monotonic() < deadline and process.poll() is None:
            try:
                status, _ = http_get(metrics_port, "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        assert status == 200
        assert http_get(metrics_port, "/readyz") == (200, "database: ok\n")
        assert "alprfed_node_sightings" in http_get(metrics_port, "/metrics")[1]
        out, err = stop(process)
    assert process.returncode == 0, err
    assert f"metrics and probes on http://127.0.0.1:{metrics_port}/metrics" in out
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    listening = [e for e in events if "listening on port" in e["message"]]
    assert listening
    assert listening[0]["logger"] == "alprfed.node"
    assert listening[0]["level"] == "INFO"


def test_witness_serve_logs_json_lines(tmp_path: Path) -> None:
    log = SigningLog()
    key = tmp_path / "witness-key.pem"
    SigningKey.generate().save(key)
    config = tmp_path / "witness.toml"
    write_witness_toml(
        config,
        key=str(key),
        database_url=f"sqlite:///{tmp_path / 'witness.db'}",
        listen=f"127.0.0.1:{free_port()}",
        logs=[log],
    )
    with serving("witness", "serve", "--config", str(config)) as process:
        assert process.stdout is not None
        first = process.stdout.readline()  # "witness <vkey>": it is up
        assert first.startswith("witness ")
        _, err = stop(process)
    assert process.returncode == 0, err
    events = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert any(e["logger"] == "alprfed.witness" and e["level"] == "WARNING" for e in events)
