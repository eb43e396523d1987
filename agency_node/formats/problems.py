"""The bad-record contract every file import shares: find every bad record, store nothing.

Problems are located by file and line (the line a record starts on; 1 is a CSV header, and a
JSON file's objects are located by the line they start on). The first MAX_REPORTED_PROBLEMS
are kept in order, and all of them are counted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alprfed.errors import InvalidRequest

MAX_REPORTED_PROBLEMS = 20


@dataclass(frozen=True)
class Problem:
    file: str
    line: int  # 1-based line where the record starts; 0 when the file cannot be read at all
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.message}"


class ImportRejected(InvalidRequest):
    """Bad records were found; nothing was imported. ``problems`` holds the first ones."""

    def __init__(self, problems: list[Problem], total: int) -> None:
        super().__init__(f"{total} bad record(s); nothing was imported")
        self.problems = problems
        self.total = total


@dataclass
class Findings:
    """Problems found so far: the first MAX_REPORTED_PROBLEMS kept, all counted."""

    shown: list[Problem] = field(default_factory=list)
    total: int = 0

    def add(self, problem: Problem, count: int = 1) -> None:
        self.total += count
        if len(self.shown) < MAX_REPORTED_PROBLEMS:
            self.shown.append(problem)

    def raise_if_any(self) -> None:
        """Raises: ImportRejected when any problem was found."""
        if self.total:
            shown = sorted(self.shown, key=lambda p: (p.file, p.line))[:MAX_REPORTED_PROBLEMS]
            raise ImportRejected(shown, self.total)
