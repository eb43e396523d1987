"""Progress bars for the long commands (node import and seed, ledger verify, report build).

A bar goes to stderr, so stdout stays the command's answer for scripts, and only when stderr is
a terminal: a log file or a CI job gets no half-drawn bars. ``--progress`` forces one anyway
(it is then drawn as on a terminal); ``--quiet`` and ``--json`` turn it off, and win over
``--progress``, since their whole point is output a program reads.

Built on rich's ``Progress`` (rich already draws every table of the CLI).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

F = TypeVar("F", bound=Callable[..., Any])
Step = Callable[[int], None]  # called with how many more items are done


def progress_options(command: F) -> F:
    """``--quiet`` and ``--progress`` for a long command; pass their values to ``progress``."""
    command = click.option(
        "--progress",
        "force_progress",
        is_flag=True,
        help="Draw the progress bar on stderr even when it is not a terminal.",
    )(command)
    return click.option(
        "--quiet", "-q", is_flag=True, help="No progress bar; only the result and errors."
    )(command)


def wanted(*, quiet: bool = False, forced: bool = False, as_json: bool = False) -> bool:
    """Whether to draw a bar: forced or on a terminal, never when quiet or writing JSON."""
    if quiet or as_json:
        return False
    return forced or sys.stderr.isatty()


@contextmanager
def progress(description: str, total: int | None, *, show: bool) -> Iterator[Step]:
    """A bar of ``total`` items (None: not known yet) on stderr while the block runs, when
    ``show``; the step it yields advances it (and does nothing when not shown)."""
    with progress_passes((description,), total, show=show) as (step,):
        yield step


@contextmanager
def progress_passes(
    descriptions: Sequence[str], total: int | None, *, show: bool
) -> Iterator[tuple[Step, ...]]:
    """One bar per pass over the same ``total`` items, drawn together (a terminal has room
    for one live display at a time); yields a step for each."""
    if not show:
        yield tuple(_ignore for _ in descriptions)
        return
    console = Console(stderr=True, force_terminal=True)
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console) as bar:
        tasks = [bar.add_task(description, total=total) for description in descriptions]
        yield tuple(_stepper(bar, task) for task in tasks)


def _stepper(bar: Progress, task: TaskID) -> Step:
    def step(done: int) -> None:
        bar.advance(task, done)

    return step


def _ignore(done: int) -> None:
    del done
