"""Write the ledger as a static tlog-tiles tree, for any web server or CDN to serve.

The directory gets exactly the resources the HTTP server (gateway/tiles_http.py) serves for
the published checkpoint: every tile and entry bundle of its tree (alprfed.ledger.tiles), then
``checkpoint`` **last**, so a client that reads the new checkpoint finds every tile it needs.
Tiles and bundles are immutable: one already present with the same bytes is left alone, and
one present with other bytes means the log now disagrees with what it published before (a
fork, or a damaged directory), so the export refuses and writes nothing more. Each file is
written atomically (a temporary file in the same directory, fsynced, then os.replace), so a
reader never sees half a file; a crash leaves the previous checkpoint in place.

Serve the files with ``Content-Type: application/octet-stream`` (``checkpoint``:
``text/plain; charset=utf-8``) and the caching of docs/TILES.md.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path

from alprfed.errors import LedgerVerificationError
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.reader import LedgerReader
from alprfed.ledger.tile_source import TileSource
from alprfed.ledger.tiles import CHECKPOINT_PATH, TileRef, bundles_for_size, tiles_for_size


class ExportConflict(LedgerVerificationError):
    """A tile or bundle already in the export directory differs from the ledger's."""


@dataclass
class ExportReport:
    """What one export did: the published ``size`` it wrote, the files written (paths relative
    to the directory, in the order written, ``checkpoint`` last when it changed) and how many
    were already there with the right bytes."""

    size: int
    written: list[str] = field(default_factory=list)
    unchanged: int = 0


def export_tiles(reader: LedgerReader, directory: Path) -> ExportReport:
    """Write the published checkpoint's tiles, bundles and then the checkpoint to
    ``directory`` (created if missing).

    Raises:
        ExportConflict: an existing tile or bundle holds other bytes; the file is named and
            nothing after it is written (the checkpoint stays the old one).
        LedgerError: the database failed or is damaged.
        OSError: the directory cannot be written.
    """
    source = TileSource(reader)
    note = source.checkpoint()
    size = read_checkpoint(note).size
    report = ExportReport(size)
    touched_dirs: set[Path] = set()
    # Partial resources come last: were the export interrupted, the full ones -- what every
    # later export keeps -- are done first. Either way the checkpoint is written after all.
    refs = sorted(chain(tiles_for_size(size), bundles_for_size(size)), key=_full_first)
    for ref in refs:
        target = directory / ref.path
        data = source.read(ref)
        existing = _read_if_present(target)
        if existing == data:
            report.unchanged += 1
            continue
        if existing is not None:
            raise ExportConflict(
                f"{target} exists with other bytes than the ledger's {ref.path}: tiles never "
                "change, so the log has forked from what was exported before or the directory "
                "was altered; nothing more was written"
            )
        _write_atomically(target, data)
        touched_dirs.add(target.parent)
        report.written.append(ref.path)
    # The checkpoint may point only at tiles that are durably in place.
    for parent in sorted(touched_dirs):
        _fsync_directory(parent)
    target = directory / CHECKPOINT_PATH
    encoded = note.encode("utf-8")
    if _read_if_present(target) != encoded:
        _write_atomically(target, encoded)
        _fsync_directory(directory)
        report.written.append(CHECKPOINT_PATH)
    return report


def _full_first(ref: TileRef) -> tuple[bool, int, bool, int]:
    return (ref.width is not None, ref.level, ref.entries, ref.index)


def _read_if_present(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        # mkstemp makes the file 0600; a web server must be able to read it.
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _fsync_directory(path: Path) -> None:
    """Make renames in ``path`` durable (POSIX; a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
