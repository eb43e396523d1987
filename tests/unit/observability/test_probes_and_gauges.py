"""The probe server over real HTTP, and sampled gauges with an injected clock."""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest
from probe_client import http_get
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.parser import text_string_to_metric_families

from alprfed.errors import ConfigError
from alprfed.observability.context import current_request_id
from alprfed.observability.logs import JsonFormatter, RequestContextFilter
from alprfed.observability.metrics import SampledGauges, split_method
from alprfed.observability.probes import ProbeServer


def test_readyz_names_the_failing_check_and_healthz_stays_up() -> None:
    registry = CollectorRegistry()
    Counter("alprfed_test_events_total", "test", registry=registry).inc(3)
    state = {"database": "database unreachable (OperationalError)"}
    probes = ProbeServer(
        "127.0.0.1:0",
        registry,
        {"database": lambda: state["database"], "ledger_writer": lambda: None},
    )
    probes.start()
    try:
        assert http_get(probes.port, "/readyz") == (
            503,
            "database: database unreachable (OperationalError)\n",
        )
        assert http_get(probes.port, "/healthz") == (200, "ok\n")
        state["database"] = None  # type: ignore[assignment]
        assert http_get(probes.port, "/readyz") == (200, "database: ok\nledger_writer: ok\n")
        status, text = http_get(probes.port, "/metrics")
        assert status == 200
        families = {f.name: f for f in text_string_to_metric_families(text)}
        assert families["alprfed_test_events"].samples[0].value == 3
    finally:
        probes.stop()


def test_a_scrape_of_named_samples_leaves_the_sampled_gauges_unasked() -> None:
    registry = CollectorRegistry()
    Counter("alprfed_test_events_total", "test", registry=registry).inc(2)
    asked: list[int] = []

    def rows() -> dict[str, float]:
        asked.append(1)
        return {"alprfed_test_rows": 5}

    registry.register(SampledGauges(rows, {"alprfed_test_rows": "rows in a table"}))
    probes = ProbeServer("127.0.0.1:0", registry, {})
    probes.start()
    try:
        status, text = http_get(probes.port, "/metrics?name[]=alprfed_test_events_total")
        assert status == 200
        samples = [s for f in text_string_to_metric_families(text) for s in f.samples]
        assert [(s.name, s.value) for s in samples] == [("alprfed_test_events_total", 2)]
        assert asked == []  # the database behind the gauge was not asked
        everything = http_get(probes.port, "/metrics")[1]
        assert "alprfed_test_rows 5.0" in everything
        assert asked == [1]
    finally:
        probes.stop()


def test_a_check_that_raises_is_not_ready() -> None:
    def broken() -> str | None:
        raise RuntimeError("boom")

    probes = ProbeServer("127.0.0.1:0", CollectorRegistry(), {"witness_quorum": broken})
    probes.start()
    try:
        assert http_get(probes.port, "/readyz") == (
            503,
            "witness_quorum: check failed: RuntimeError\n",
        )
    finally:
        probes.stop()


def test_a_taken_port_is_a_config_error_naming_the_setting() -> None:
    first = ProbeServer("127.0.0.1:0", CollectorRegistry(), {})
    try:
        with pytest.raises(ConfigError, match=r"^metrics_listen: cannot listen on 127\.0\.0\.1:"):
            ProbeServer(f"127.0.0.1:{first.port}", CollectorRegistry(), {})
    finally:
        first.stop()


def test_sampled_gauges_ask_the_source_once_per_interval() -> None:
    asked = []
    now = [100.0]

    def sample() -> dict[str, float]:
        asked.append(now[0])
        return {"alprfed_node_sightings": float(len(asked))}

    gauges = SampledGauges(
        sample, {"alprfed_node_sightings": "held"}, interval_s=15, monotonic=lambda: now[0]
    )
    registry = CollectorRegistry()
    registry.register(gauges)
    assert registry.get_sample_value("alprfed_node_sightings") == 1
    now[0] = 114.0
    assert registry.get_sample_value("alprfed_node_sightings") == 1
    now[0] = 115.0
    assert registry.get_sample_value("alprfed_node_sightings") == 2
    assert asked == [100.0, 115.0]


def test_a_failing_source_shows_no_stale_value() -> None:
    answers: list[object] = [{"alprfed_node_sightings": 5.0}, OSError("gone")]

    def sample() -> dict[str, float]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer  # type: ignore[return-value]

    registry = CollectorRegistry()
    registry.register(SampledGauges(sample, {"alprfed_node_sightings": "held"}, interval_s=0))
    assert registry.get_sample_value("alprfed_node_sightings") == 5
    assert registry.get_sample_value("alprfed_node_sightings") is None


def test_split_method() -> None:
    assert split_method("/alprfed.v1.Gateway/Query") == ("alprfed.v1.Gateway", "Query")
    assert split_method("") == ("unknown", "unknown")


def test_a_json_line_holds_the_request_id_and_the_traceback() -> None:
    record = logging.LogRecord(
        "alprfed.node", logging.ERROR, __file__, 1, "failed %s", ("x",), None
    )
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    token = current_request_id.set("00aa11bb22cc33dd")
    try:
        RequestContextFilter().filter(record)
    finally:
        current_request_id.reset(token)
    event = json.loads(JsonFormatter().format(record))
    assert event["message"] == "failed x"
    assert event["level"] == "ERROR"
    assert event["logger"] == "alprfed.node"
    assert event["request_id"] == "00aa11bb22cc33dd"
    assert "ValueError: inner" in event["exception"]
    assert "\n" not in JsonFormatter().format(record)


def test_an_ipv6_loopback_address_is_served() -> None:
    probes = ProbeServer("[::1]:0", CollectorRegistry(), {})
    probes.start()
    try:
        with urllib.request.urlopen(f"http://[::1]:{probes.port}/healthz", timeout=5) as answer:
            assert answer.read() == b"ok\n"
    finally:
        probes.stop()


def test_beyond_loopback_is_served_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    probes = ProbeServer("0.0.0.0:0", CollectorRegistry(), {})
    with caplog.at_level(logging.WARNING, logger="alprfed.observability"):
        probes.start()
    probes.stop()
    assert "metrics_listen is not loopback" in caplog.text
