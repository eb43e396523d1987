"""The services as an operator runs them: real processes, SIGTERM for a graceful stop."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest
from gateways import free_port

from alprfed.demo.layout import build_layout
from alprfed.demo.processes import FederationProcesses
from alprfed.demo.spec import DEMO


@pytest.mark.slow
def test_node_and_gateway_serve_until_sigterm_then_exit_cleanly(tmp_path: Path) -> None:
    spec = DEMO.__class__(
        **{
            **DEMO.__dict__,
            "agencies": tuple(a for a in DEMO.agencies if a.agency_id in ("sjpd", "ice-ero")),
            "witnesses": (),
        }
    )
    layout = build_layout(
        tmp_path / "fed", spec, gateway_port=free_port(), node_ports={"sjpd": free_port()}
    )
    processes = FederationProcesses(layout)
    try:
        processes.start_node("sjpd")
        processes.wait_ready("sjpd", layout.node_addresses["sjpd"], "alprfed.v1.AgencyNode")
        processes.start_gateway()
        processes.wait_ready("gateway", layout.gateway_address, "alprfed.v1.Gateway")
        for name in ("gateway", "sjpd"):
            process = processes.processes[name]
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == 0, processes.log_of(name).read_text()
    finally:
        processes.stop_all()
    assert "Traceback" not in processes.log_of("sjpd").read_text()
    assert "Traceback" not in processes.log_of("gateway").read_text()


def test_a_bad_config_is_one_clear_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "node.toml"
    config.write_text(
        '[node]\nagency_id = "sjpd"\nstate = "ZZ"\ndatabase_url = "sqlite:///n.db"\n'
        'signing_key = "k.pem"\ngateway_key = "ed25519:AAAA"\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "alprfed", "node", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "error:" in result.stderr
    assert "ZZ" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_the_demo_stops_every_process_and_cleans_up_when_signalled(signum: int) -> None:
    import re
    import time

    demo = subprocess.Popen(
        [sys.executable, "-m", "alprfed", "demo"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert demo.stdout is not None
    output = []
    for line in demo.stdout:  # wait until the services are being started
        output.append(line)
        if "starting every node" in line:
            break
    root = re.search(r"building the federation in (\S+)", "".join(output).replace("\n", ""))
    assert root, "".join(output)
    time.sleep(2)  # let some services come up, so there is something to stop
    demo.send_signal(signum)
    demo.communicate(timeout=60)
    left = subprocess.run(
        ["pgrep", "-f", root.group(1)],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    assert left == "", f"processes left running: {left}"
    assert not Path(root.group(1)).exists()  # the temporary federation (with keys) is gone
