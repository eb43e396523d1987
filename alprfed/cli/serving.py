"""What every ``serve`` command shares: ``--log-format`` and the metrics port's announcement.

``--log-format`` overrides the config's ``log_format``; without either, logs are text.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click

from alprfed.observability.logs import configure_logging
from alprfed.observability.probes import ProbeServer
from alprfed.observability.settings import LogFormat, ObservabilitySettings

F = TypeVar("F", bound=Callable[..., Any])

log_format_option: Callable[[F], F] = click.option(
    "--log-format",
    type=click.Choice([f.value for f in LogFormat]),
    default=None,
    help="text (default) or json: one JSON object a line, with the request id. "
    "Overrides log_format in the config.",
)


def apply_log_format(flag: str | None, settings: ObservabilitySettings) -> None:
    """Switch the process's logs to the chosen format, keeping the level ``-v`` set."""
    chosen = LogFormat(flag) if flag else settings.log_format
    configure_logging(chosen, logging.getLogger().level)


def probes_line(host: str, probes: ProbeServer | None) -> str | None:
    if probes is None:
        return None
    return f"metrics and probes on http://{host}:{probes.port}/metrics, /healthz, /readyz"
