"""Import a vendor file, or a webhook's reads, through the node's one bulk path.

Files follow the same contract as the alprfed CSV import (agency_node.csv_import): the file is
checked completely first, and if any record is bad nothing is stored and the first bad records
are listed (file:line, or file:N for the N-th body of a JSON array) with the field at fault.
Otherwise every read is stored in one transaction (``NodeStore.bulk_load``), so an import is
all or nothing even if the database fails half way. A read already stored -- same camera, time
and plate (node migration 4) -- is skipped and counted, so re-importing a file, or a vendor
re-delivering a webhook, stores nothing twice.

Every read must name a camera registered on the node (``--cameras`` registers them with an
alprfed CSV import); reads without a position take their camera's. Reads from the future,
older than retention allows, or from a camera at a sensitive site the node's law forbids
collecting at (agency_node.law_guard.ObservationBounds) are bad records.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agency_node.formats import CSV_FORMATS, JSON_FORMATS, Layout, platerecognizer
from agency_node.formats.fields import load_json
from agency_node.formats.mapped_csv import CsvMapping
from agency_node.formats.problems import Findings, Problem
from agency_node.formats.reads import CameraDirectory, ReadDraft
from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from agency_node.storage.store import ProgressCallback
from alprfed.errors import ConfigError, InvalidRequest
from alprfed.models import Camera, Sighting

MAX_JSON_FILE_BYTES = 256 * 1024 * 1024  # a JSON document is decoded whole; larger: JSON Lines


@dataclass(frozen=True)
class ImportSource:
    """A file and how to read it."""

    path: Path
    format: str  # a name in JSON_FORMATS or CSV_FORMATS
    camera_id: str | None = None  # platerecognizer-csv: the camera the file is from
    mapping: CsvMapping | None = None  # mapped-csv

    def __post_init__(self) -> None:
        if self.format not in JSON_FORMATS and self.format not in CSV_FORMATS:
            raise ConfigError(f"format: {self.format!r} is not a vendor format")
        if self.format == "mapped-csv" and self.mapping is None:
            raise ConfigError("mapping: the mapped-csv format needs --mapping FILE")


@dataclass(frozen=True)
class StoredReads:
    """What a file or a delivery held, and how much of it was new."""

    offered: int
    stored: int

    @property
    def duplicates(self) -> int:
        """Reads skipped because the node already held them (or the input repeated them)."""
        return self.offered - self.stored


def check_file(
    store: NodeStore,
    source: ImportSource,
    bounds: ObservationBounds,
    cameras: Sequence[Camera] = (),
) -> int:
    """Validate the whole file; store nothing; return how many reads it holds.

    ``cameras`` are to be registered with the import (they override stored ones).

    Raises:
        ImportRejected: any bad record (the first ones listed, all counted).
    """
    findings = Findings()
    directory = CameraDirectory(store, cameras)
    count = 0
    for line, draft in _drafts(source, findings):
        count += 1
        try:
            _checked(directory, draft, bounds)
        except InvalidRequest as exc:
            findings.add(Problem(source.path.name, line, str(exc)))
    findings.raise_if_any()
    return count


def import_file(
    store: NodeStore,
    source: ImportSource,
    bounds: ObservationBounds,
    cameras: Sequence[Camera] = (),
    *,
    on_progress: ProgressCallback | None = None,
) -> StoredReads:
    """Store ``cameras`` and a checked file in one transaction (see ``check_file``).

    Raises:
        ImportRejected: the file changed since it was checked and now holds a bad record;
            nothing was stored.
    """
    findings = Findings()
    directory = CameraDirectory(store, cameras)
    offered = 0

    def sightings() -> Iterator[Sighting]:
        nonlocal offered
        for line, draft in _drafts(source, findings, stop_at_first=True):
            try:
                sighting = _checked(directory, draft, bounds)
            except InvalidRequest as exc:
                findings.add(Problem(source.path.name, line, str(exc)))
                findings.raise_if_any()  # inside bulk_load's transaction: nothing is stored
            offered += 1
            yield sighting

    stored = store.bulk_load(cameras, sightings(), on_progress=on_progress)
    return StoredReads(offered=offered, stored=stored)


def store_reads(
    store: NodeStore, drafts: Sequence[ReadDraft], bounds: ObservationBounds
) -> StoredReads:
    """Store one delivery's reads, all or none (the webhook receiver's path).

    Raises:
        InvalidRequest: the first bad read, naming its field; nothing was stored.
    """
    directory = CameraDirectory(store)
    directory.preload(draft.camera_id for draft in drafts)
    sightings = [_checked(directory, draft, bounds) for draft in drafts]
    return StoredReads(offered=len(sightings), stored=store.bulk_load([], sightings))


def _checked(directory: CameraDirectory, draft: ReadDraft, bounds: ObservationBounds) -> Sighting:
    sighting = directory.finish(draft)
    camera = directory.get(draft.camera_id)
    problem = bounds.problem(sighting) or (camera and bounds.camera_problem(camera))
    if problem:
        raise InvalidRequest(problem)
    return sighting


# --- reading files -------------------------------------------------------------------------------


def _drafts(
    source: ImportSource, findings: Findings, *, stop_at_first: bool = False
) -> Iterator[tuple[int, ReadDraft]]:
    """Every read in the file with where its record starts; bad records go to ``findings``."""
    name = source.path.name
    try:
        for line, parse in _records(source):
            try:
                for draft in parse():
                    yield line, draft
            except InvalidRequest as exc:
                findings.add(Problem(name, line, str(exc)))
                if stop_at_first:
                    findings.raise_if_any()
    except _Unreadable as exc:
        findings.add(Problem(name, exc.line, exc.reason))
    except OSError as exc:
        findings.add(Problem(name, 0, f"cannot read the file: {exc.strerror}"))
    if stop_at_first:
        findings.raise_if_any()


class _Unreadable(Exception):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(reason)
        self.line = line
        self.reason = reason


def _records(source: ImportSource) -> Iterator[tuple[int, Any]]:
    """(line, a thunk returning the record's reads): the file split by its layout."""
    if source.format in JSON_FORMATS:
        fmt = JSON_FORMATS[source.format]
        if fmt.layout is Layout.JSON_LINES:
            yield from _json_lines(source.path, fmt.reads)
        else:
            yield from _json_document(source.path, fmt.reads)
    elif source.format == "platerecognizer-csv":
        header = (platerecognizer.CSV_REQUIRED, platerecognizer.CSV_OPTIONAL)
        camera_id = source.camera_id
        for line, row in _csv_rows(source.path, ",", *header):
            yield line, _row_reads(row, lambda r: platerecognizer.csv_read(r, camera_id))
    else:
        mapping = source.mapping
        assert mapping is not None  # ImportSource guarantees it
        for line, row in _csv_rows(source.path, mapping.delimiter, mapping.required_headers, None):
            yield line, _row_reads(row, mapping.read)


def _json_document(path: Path, reads: Any) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        raw = handle.read(MAX_JSON_FILE_BYTES + 1)
    if len(raw) > MAX_JSON_FILE_BYTES:
        raise _Unreadable(0, f"larger than {MAX_JSON_FILE_BYTES} bytes; split it")
    try:
        document = load_json(raw, what="file")
    except InvalidRequest as exc:
        raise _Unreadable(1, str(exc)) from None
    bodies = document if isinstance(document, list) else [document]
    for index, body in enumerate(bodies):
        yield index + 1, lambda body=body: reads(body)


def _json_lines(path: Path, reads: Any) -> Iterator[tuple[int, Any]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue

            def parse(raw: bytes = raw) -> list[ReadDraft]:
                return list(reads(load_json(raw, what="line")))

            yield number, parse


def _csv_rows(
    path: Path, delimiter: str, required: Iterable[str], optional: Iterable[str] | None
) -> Iterator[tuple[int, dict[str, str] | InvalidRequest]]:
    """Rows as header -> text, or why the row is no record.

    ``optional`` None: columns beyond ``required`` are allowed and ignored.
    """
    read_to = 0
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle, delimiter=delimiter, strict=True)
            columns = [c.strip() for c in next(reader, None) or []]
            read_to = reader.line_num
            _check_header(columns, tuple(required), optional)
            for fields in reader:
                line, read_to = read_to + 1, reader.line_num
                if not any(text.strip() for text in fields):
                    continue
                if len(fields) != len(columns):
                    problem = f"{len(fields)} fields where the header names {len(columns)}"
                    yield line, InvalidRequest(problem)
                    continue
                yield line, dict(zip(columns, fields, strict=True))
    except UnicodeDecodeError:
        raise _Unreadable(read_to + 1, "the file is not UTF-8 text") from None
    except csv.Error as exc:
        raise _Unreadable(read_to + 1, f"not valid CSV: {exc}") from None


def _row_reads(row: dict[str, str] | InvalidRequest, parse: Any) -> Any:
    """A thunk: a row's reads, or its problem raised when read (so it is found in order)."""

    def reads() -> list[ReadDraft]:
        if isinstance(row, InvalidRequest):
            raise row
        return [parse(row)]

    return reads


def _check_header(
    columns: list[str], required: tuple[str, ...], optional: Iterable[str] | None
) -> None:
    problems = []
    if missing := [column for column in required if column not in columns]:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if optional is not None:
        known = required + tuple(optional)
        if unknown := [column for column in columns if column not in known]:
            problems.append(f"unknown column(s): {', '.join(unknown)}")
    if len(set(columns)) != len(columns):
        problems.append("a column is named twice")
    if problems:
        raise _Unreadable(1, "; ".join(problems))
