from __future__ import annotations

from pathlib import Path

import pytest

from alprfed.config import _Table
from alprfed.errors import ConfigError
from alprfed.observability.settings import (
    LogFormat,
    ObservabilitySettings,
    TraceExporter,
    read_observability,
)


def _read(**data: object) -> ObservabilitySettings:
    return read_observability(_Table(data, "node.toml [node]", Path(".")))


def test_defaults_are_off_text_and_no_tracing() -> None:
    assert _read() == ObservabilitySettings(
        metrics_listen="",
        log_format=LogFormat.TEXT,
        tracing_exporter=TraceExporter.NONE,
        tracing_endpoint="",
        reflection=False,
    )


def test_every_key_is_read() -> None:
    settings = _read(
        metrics_listen="127.0.0.1:9464",
        log_format="json",
        tracing_exporter="otlp-http",
        tracing_endpoint="http://collector:4318/v1/traces",
        reflection=True,
    )
    assert settings.metrics_listen == "127.0.0.1:9464"
    assert settings.log_format is LogFormat.JSON
    assert settings.tracing_exporter is TraceExporter.OTLP_HTTP
    assert settings.tracing_endpoint == "http://collector:4318/v1/traces"
    assert settings.reflection is True


@pytest.mark.parametrize(
    ("data", "named"),
    [
        ({"log_format": "xml"}, "'log_format' must be one of text, json, not 'xml'"),
        ({"tracing_exporter": "jaeger"}, "'tracing_exporter' must be one of none, console"),
        ({"metrics_listen": "9464"}, "'metrics_listen' must be HOST:PORT"),
        ({"reflection": "yes"}, "'reflection' has the wrong type"),
    ],
)
def test_a_bad_value_names_its_key(data: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")) as raised:
        _read(**data)
    assert str(raised.value).startswith("node.toml [node]: ")
