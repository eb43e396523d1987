"""The monitor state file: the last checkpoint a verifier accepted, as a CT monitor keeps it.

A JSON object (docs/LEDGER.md, "The monitor state file")::

    {"format": "alprfed-ledger-monitor/v1", "origin": "...", "size": 1234,
     "root": "<base64>", "peaks": ["<base64>", ...], "checkpoint": "<signed note>"}

``peaks`` are the roots of the complete subtrees making up the tree at ``size`` (its compact
range), kept so that a rewritten history can be narrowed to the subtree where it differs. The
file is replaced atomically, and only after every check passed.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass
from pathlib import Path

from alprfed.errors import LedgerError
from alprfed.ledger.merkle import EMPTY_ROOT, HASH_SIZE, fold_right, peaks

STATE_FORMAT = "alprfed-ledger-monitor/v1"


@dataclass(frozen=True)
class MonitorState:
    origin: str
    size: int
    root: bytes
    peaks: tuple[bytes, ...]
    checkpoint: str

    @classmethod
    def load(cls, path: Path) -> MonitorState | None:
        """The state in ``path``; None when the file does not exist yet (first use).

        Raises:
            LedgerError: the file cannot be read or is not a consistent monitor state.
        """
        try:
            raw = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise LedgerError(f"cannot read the monitor state {path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise LedgerError(f"the monitor state {path} is not UTF-8 text") from None
        try:
            value = json.loads(raw)
            if value["format"] != STATE_FORMAT:
                raise ValueError(f"format is not {STATE_FORMAT}")
            state = cls(
                origin=str(value["origin"]),
                size=int(value["size"]),
                root=base64.b64decode(value["root"], validate=True),
                peaks=tuple(base64.b64decode(p, validate=True) for p in value["peaks"]),
                checkpoint=str(value["checkpoint"]),
            )
        except (ValueError, KeyError, TypeError, binascii.Error) as exc:
            raise LedgerError(f"{path} is not a ledger monitor state: {exc}") from None
        state.check()
        return state

    def check(self) -> None:
        """Raises: LedgerError when the peaks do not make up the root at the size."""
        if self.size < 0 or len(self.peaks) != len(peaks(self.size)):
            raise LedgerError("monitor state: the peaks do not fit the tree size")
        if any(len(p) != HASH_SIZE for p in self.peaks):
            raise LedgerError("monitor state: a peak is not a 32-byte hash")
        if (fold_right(self.peaks) if self.peaks else EMPTY_ROOT) != self.root:
            raise LedgerError("monitor state: the peaks do not make up the root")

    def save(self, path: Path) -> None:
        """Write the state atomically (a crash leaves the old or the new file, never half)."""
        encoded = (
            json.dumps(
                {
                    "format": STATE_FORMAT,
                    "origin": self.origin,
                    "size": self.size,
                    "root": base64.b64encode(self.root).decode("ascii"),
                    "peaks": [base64.b64encode(p).decode("ascii") for p in self.peaks],
                    "checkpoint": self.checkpoint,
                },
                indent=2,
            )
            + "\n"
        )
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            out.write(encoded)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)

    def first_difference(self, recomputed: tuple[bytes, ...]) -> int:
        """The first leaf index of the first peak (complete subtree) that differs."""
        for (level, index), seen, now in zip(peaks(self.size), self.peaks, recomputed, strict=True):
            if seen != now:
                return index << level
        return self.size
