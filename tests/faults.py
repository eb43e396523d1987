"""What the fault suite tried and found, summed over the run and printed at its end.

Each fault test adds its counts here as it goes, so a failing run still reports how far it got;
``make soak`` prints the summary (tests/fault/conftest.py) and saves it to bench/results/.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

# The figures the issue asks a soak run to report, in the order they are printed.
FIGURES = (
    ("kills_tried", "kill -9 tried"),
    ("kills_survived", "kills survived (restarted, then audited)"),
    ("acknowledged", "acknowledged acts checked after kills"),
    ("acknowledged_lost", "acknowledged entries lost"),
    ("duplicate_or_phantom", "phantom or duplicate entries"),
    ("races", "racing requests sent"),
    ("fuzz_inputs", "fuzz inputs tried"),
    ("crashes", "crashes (service down, UNKNOWN)"),
    ("tracebacks", "tracebacks or exception class names shown"),
    ("unexpected_internal", "unexpected INTERNAL"),
)

TALLY: Counter[str] = Counter()


def add(**counts: int) -> None:
    TALLY.update(counts)


def lines() -> list[str]:
    return [f"{label:<46} {TALLY.get(key, 0):>10,}" for key, label in FIGURES]


def save(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({key: TALLY.get(key, 0) for key, _ in FIGURES}, indent=2) + "\n")
