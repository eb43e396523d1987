"""Log lines as text (the default) or JSON (``--log-format json``), one event per line.

Every line carries the request id of the call it was logged for (alprfed.observability.context)
and, when tracing is on, the trace and span ids, so a query's lines on the gateway and on
each node can be joined. JSON lines hold: ``time`` (RFC 3339, UTC), ``level``, ``logger``,
``message``, ``request_id``, ``trace_id``, ``span_id`` (when known) and ``exception`` (the
formatted traceback, when one was logged).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from opentelemetry import trace

from alprfed.observability.context import current_request_id
from alprfed.observability.settings import LogFormat

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s%(request_tag)s: %(message)s"


class RequestContextFilter(logging.Filter):
    """Adds ``request_id``, ``trace_id``, ``span_id`` and ``request_tag`` to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = current_request_id.get()
        record.request_id = request_id
        record.request_tag = f" [{request_id}]" if request_id else ""
        span = trace.get_current_span().get_span_context()
        record.trace_id = format(span.trace_id, "032x") if span.is_valid else ""
        record.span_id = format(span.span_id, "016x") if span.is_valid else ""
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_id", "trace_id", "span_id"):
            value = getattr(record, key, "")
            if value:
                event[key] = value
        if record.exc_info:
            event["exception"] = self.formatException(record.exc_info)
        return json.dumps(event, ensure_ascii=False)


def configure_logging(log_format: LogFormat, level: int = logging.WARNING) -> None:
    """Send the root logger's records to standard error in ``log_format``; replaces any
    handlers configured before (the CLI configures text first, then a config may say JSON)."""
    handler = logging.StreamHandler()
    handler.addFilter(RequestContextFilter())
    handler.setFormatter(
        JsonFormatter() if log_format is LogFormat.JSON else logging.Formatter(TEXT_FORMAT)
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
