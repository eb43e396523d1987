"""The observability settings every service's config carries (docs/OPERATIONS.md,
"Observability settings"), read from the service's own table ([node], [gateway], [witness]).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from alprfed.errors import ConfigError

E = TypeVar("E", bound=StrEnum)


class LogFormat(StrEnum):
    TEXT = "text"  # the default: for a person at a terminal
    JSON = "json"  # one JSON object a line, for a log shipper


class TraceExporter(StrEnum):
    NONE = "none"  # the default: no spans are recorded at all
    CONSOLE = "console"  # spans as JSON on standard output, for a quick look
    OTLP_GRPC = "otlp-grpc"  # OTLP over gRPC to a collector (default endpoint localhost:4317)
    OTLP_HTTP = "otlp-http"  # OTLP over HTTP (default endpoint localhost:4318/v1/traces)


# The keys, as they are spelled in each service's table.
OBSERVABILITY_KEYS = {
    "metrics_listen",
    "log_format",
    "tracing_exporter",
    "tracing_endpoint",
    "reflection",
}


@dataclass(frozen=True)
class ObservabilitySettings:
    # HOST:PORT of the HTTP server of /metrics, /healthz and /readyz; "" serves none. Off by
    # default: the port is the operator's choice, and two services on one host must differ.
    metrics_listen: str = ""
    log_format: LogFormat = LogFormat.TEXT
    tracing_exporter: TraceExporter = TraceExporter.NONE
    tracing_endpoint: str = ""  # "" is the exporter's own default
    # gRPC server reflection (grpcurl list/describe). Off by default: it tells anyone who
    # can connect every method and message of the service.
    reflection: bool = False


def read_observability(table: Any) -> ObservabilitySettings:
    """The observability keys of one config table (an ``alprfed.config._Table``).

    Raises:
        ConfigError: a key with the wrong type or an unknown value, naming the key.
    """
    listen = ""
    if table.data.get("metrics_listen"):
        listen = table.address("metrics_listen", "", any_port=True)
    return ObservabilitySettings(
        metrics_listen=listen,
        log_format=_choice(table, "log_format", LogFormat, LogFormat.TEXT),
        tracing_exporter=_choice(table, "tracing_exporter", TraceExporter, TraceExporter.NONE),
        tracing_endpoint=str(table.text("tracing_endpoint", "")),
        reflection=table.flag("reflection", False),
    )


def _choice(table: Any, key: str, kind: type[E], default: E) -> E:
    value = table.text(key, default.value)
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise ConfigError(f"{table.where}: {key!r} must be one of {known}, not {value!r}") from None
