"""What a benchmark run reports: figures beside their floors and targets, as JSON and tables.

A ``Figure`` is one measured value (a p50, a rate, a time) in one configuration, with the
*floor* measured in the same run: the same work done by the barest means available (the raw SQL
lookup under a node search, a bare client under the gateway). On a noisy shared machine
absolute numbers drift between runs, but a figure and its floor drift together, so their ratio
is what a reader should compare. For a rate the floor is the bare rate, an upper bound.

Targets come from the project's performance goals. A figure may carry several; it meets them
when it meets all of them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any


class Goal(StrEnum):
    AT_MOST = "at_most"  # value <= limit
    AT_LEAST = "at_least"  # value >= limit
    OVER_FLOOR_AT_MOST = "over_floor_at_most"  # value - floor <= limit
    TIMES_FLOOR_AT_MOST = "times_floor_at_most"  # value / floor <= limit


@dataclass(frozen=True)
class Target:
    goal: Goal
    limit: float
    text: str  # as a reader states it: "p50 <= 2 ms"

    def met(self, value: float, floor: float | None) -> bool:
        """Raises: ValueError for a floor-relative goal on a figure without a floor."""
        if self.goal is Goal.AT_MOST:
            return value <= self.limit
        if self.goal is Goal.AT_LEAST:
            return value >= self.limit
        if floor is None:
            raise ValueError(f"target {self.text!r} needs a floor")
        if self.goal is Goal.OVER_FLOOR_AT_MOST:
            return value - floor <= self.limit
        return value / floor <= self.limit


def at_most(limit: float, text: str) -> Target:
    return Target(Goal.AT_MOST, limit, text)


def at_least(limit: float, text: str) -> Target:
    return Target(Goal.AT_LEAST, limit, text)


@dataclass(frozen=True)
class Figure:
    """One measured value beside its floor and targets."""

    part: str
    measure: str  # what was measured: "search p50"
    config: str  # where: "SQLite, 10,000,000 sightings"
    value: float
    unit: str  # "ms", "µs", "s", "/s", "x"
    floor: float | None = None
    floor_label: str = ""  # what the floor is: "raw SQL lookup"
    targets: tuple[Target, ...] = ()
    note: str = ""

    def __post_init__(self) -> None:
        if not math.isfinite(self.value) or (
            self.floor is not None and not math.isfinite(self.floor)
        ):
            raise ValueError(f"{self.measure} ({self.config}): a figure must be a finite number")

    @property
    def met(self) -> bool | None:
        """None without targets; else whether every target holds."""
        if not self.targets:
            return None
        return all(t.met(self.value, self.floor) for t in self.targets)

    @property
    def ratio(self) -> float | None:
        """value / floor, the number that survives a noisy machine."""
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["targets"] = [
            {"goal": t.goal.value, "limit": t.limit, "text": t.text} for t in self.targets
        ]
        data["met"] = self.met
        data["ratio_to_floor"] = self.ratio
        return data


@dataclass
class PartReport:
    """The figures of one benchmark part and what a reader must know to read them."""

    part: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""  # why the part failed (it then has no figures); the other parts still ran

    def add(self, figure: Figure) -> Figure:
        if figure.part != self.part:
            raise ValueError(f"figure of part {figure.part!r} added to {self.part!r}")
        self.figures.append(figure)
        return figure

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "title": self.title,
            "seconds": round(self.seconds, 1),
            "error": self.error,
            "notes": list(self.notes),
            "figures": [f.to_json() for f in self.figures],
        }


@dataclass
class RunReport:
    started_at: str  # ISO 8601, UTC
    command: str
    preset: str  # "full", "quick" or "tiny" (bench.parts)
    machine: dict[str, str]
    parts: list[PartReport] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at,
            "command": self.command,
            "preset": self.preset,
            "seconds": round(self.seconds, 1),
            "machine": dict(self.machine),
            "parts": [p.to_json() for p in self.parts],
        }

    def write_json(self, directory: Path, stem: str) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{stem}.json"
        path.write_text(json.dumps(self.to_json(), indent=2, ensure_ascii=False) + "\n")
        return path


def format_number(value: float) -> str:
    """Three significant digits, thousands separated: 1.23, 45.6, 789, 12,300."""
    if value == 0:
        return "0"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    digits = max(0, 2 - math.floor(math.log10(magnitude)))
    return f"{value:.{digits}f}"


def verdict(figure: Figure) -> str:
    met = figure.met
    return "" if met is None else ("met" if met else "MISSED")


def table_rows(figures: Sequence[Figure]) -> list[list[str]]:
    """measure, configuration, value, floor, value/floor, target, verdict, note: a row each."""
    rows = []
    for f in figures:
        floor = "" if f.floor is None else f"{format_number(f.floor)} {f.unit} ({f.floor_label})"
        ratio = "" if f.ratio is None else f"{f.ratio:.2f}x"
        rows.append(
            [
                f.measure,
                f.config,
                f"{format_number(f.value)} {f.unit}",
                floor,
                ratio,
                "; ".join(t.text for t in f.targets),
                verdict(f),
                f.note,
            ]
        )
    return rows


COLUMNS = ("measure", "configuration", "value", "floor", "÷ floor", "target", "verdict", "note")


def markdown(report: RunReport) -> str:
    """The summary committed to docs/PERFORMANCE.md: one table per part, with its notes."""
    lines = [
        f"Run of {report.started_at} (`{report.command}`), {report.seconds / 60:.0f} min.",
        "",
    ]
    for part in report.parts:
        lines += [f"### {part.title}", ""]
        if part.error:
            lines += [f"**This part failed:** {part.error}", ""]
        lines += ["| " + " | ".join(COLUMNS) + " |"]
        lines.append("|" + "---|" * len(COLUMNS))
        lines += ["| " + " | ".join(row) + " |" for row in table_rows(part.figures)]
        lines += [""] + [f"- {note}" for note in part.notes] + [""]
    return "\n".join(lines)
