"""Helpers every command group shares: one console, errors without tracebacks, time parsing."""

from __future__ import annotations

import datetime as dt
import functools
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import grpc
from rich.console import Console
from rich.markup import escape

from alprfed.errors import AlprfedError, ConfigError
from alprfed.query_view import format_time as format_time  # the one time format, shared
from alprfed.signing import SigningKey, VerifyingKey

console = Console()
err_console = Console(stderr=True)

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str, code: int = 1) -> None:
    # Escaped: messages name TOML tables ("[tls]", "[[log]]") that rich would take for markup.
    # soft_wrap: one line however long (a path, say), never broken at the terminal's width.
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(code)


def friendly_errors(func: F) -> F:
    """Turn our errors and gRPC failures into one readable line and a non-zero exit."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from alprfed.cli.exit_codes import for_error

        try:
            return func(*args, **kwargs)
        except AlprfedError as exc:
            fail(str(exc), for_error(exc))
        except OSError as exc:  # a file we were told to read or write
            where = f" {exc.filename}" if exc.filename else ""
            fail(f"{exc.strerror or exc}{where}")
        except UnicodeDecodeError:
            fail("a file that should be text (UTF-8) is not")
        except grpc.RpcError as exc:
            code = exc.code() if hasattr(exc, "code") else None
            details = exc.details() if hasattr(exc, "details") else str(exc)
            fail(f"{code.name if code else 'RPC failed'}: {details}", for_error(exc))

    return wrapper  # type: ignore[return-value]


def parse_time(text: str, *, now: int | None = None) -> int:
    """Unix seconds from ISO 8601 (UTC unless an offset is given), 'now', '-72h', '-30d', or an
    integer. Raises click.BadParameter."""
    text = text.strip()
    if text.lstrip("-").isdigit() and not text.startswith("-"):
        return int(text)
    current = now if now is not None else int(dt.datetime.now(dt.UTC).timestamp())
    if text == "now":
        return current
    if text.startswith("-") and text[-1:] in DURATION_UNITS and text[1:-1].isdigit():
        return current - int(text[1:-1]) * DURATION_UNITS[text[-1]]
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r}: use ISO 8601 (2025-06-01T08:00Z), 'now', '-72h' or Unix seconds"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return int(parsed.timestamp())


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """Seconds from '90s', '15m', '72h', '30d'. Raises click.BadParameter."""
    text = text.strip()
    if text[-1:] in DURATION_UNITS and text[:-1].isdigit() and int(text[:-1]) > 0:
        return int(text[:-1]) * DURATION_UNITS[text[-1]]
    raise click.BadParameter(f"{text!r}: use a positive number and a unit, e.g. 72h or 30d")


def new_signing_key(out: Path) -> VerifyingKey:
    """Write a fresh Ed25519 key to ``out`` (0600) and return its public half.

    Raises:
        ConfigError: ``out`` exists; a key is never overwritten.
    """
    if out.exists():
        raise ConfigError(f"{out} exists; refusing to overwrite a key")
    key = SigningKey.generate()
    key.save(out)
    return key.public


def print_new_signing_key(out: Path, *, as_json: bool) -> None:
    """`keygen`'s output: the new key's public half, for the federation file or a court.

    Raises:
        ConfigError: ``out`` exists.
    """
    from alprfed.cli.json_output import emit_json

    public = new_signing_key(out)
    if as_json:
        emit_json({"key_file": str(out), "public_key": public.to_text(), "key_id": public.key_id})
    else:
        console.print(public.to_text(), highlight=False)
