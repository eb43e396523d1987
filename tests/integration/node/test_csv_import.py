"""check_import / run_import on real files and a real database: the all-or-nothing contract."""

from __future__ import annotations

from pathlib import Path

import pytest

from agency_node.csv_import import CsvRejected, check_import, run_import
from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from alprfed.models import Camera, Position

# Tests not about observation times accept any.
ANY_TIME = ObservationBounds(oldest=0, newest=2**62)

HEADER = "plate,plate_state,observed_at,camera_id,latitude,longitude,confidence\n"
CAMERA = Camera("cam-1", "Main St & 1st Ave", Position(44_977_800, -93_265_000))


def row(plate: str = "ABC123", camera_id: str = "cam-1") -> str:
    return f"{plate},MN,1763647200,{camera_id},44.9778,-93.265,0.8\n"


def problems_of(store: NodeStore, path: Path, cameras: Path | None = None) -> list[str]:
    with pytest.raises(CsvRejected) as rejected:
        check_import(store, path, cameras, bounds=ANY_TIME)
    return [str(problem) for problem in rejected.value.problems]


def test_checked_file_is_imported_in_one_transaction(store: NodeStore, tmp_path: Path) -> None:
    store.upsert_cameras([CAMERA])
    path = tmp_path / "reads.csv"
    path.write_text(HEADER + "".join(row(f"MNP{i:03d}") for i in range(50)))
    progress: list[int] = []

    checked = check_import(store, path, bounds=ANY_TIME)
    stored = run_import(store, checked, on_progress=progress.append)

    assert (checked.sightings, stored, sum(progress)) == (50, 50, 50)
    assert store.count_sightings() == 50


def test_file_changed_after_the_check_stores_nothing(store: NodeStore, tmp_path: Path) -> None:
    store.upsert_cameras([CAMERA])
    path = tmp_path / "reads.csv"
    path.write_text(HEADER + row() * 10)
    checked = check_import(store, path, bounds=ANY_TIME)
    path.write_text(HEADER + row() * 9 + row(plate="BAD!"))

    with pytest.raises(CsvRejected) as rejected:
        run_import(store, checked)

    assert [p.line for p in rejected.value.problems] == [11]
    assert store.count_sightings() == 0


def test_line_numbers_count_blank_lines_and_quoted_line_breaks(
    store: NodeStore, tmp_path: Path
) -> None:
    store.upsert_cameras([CAMERA])
    path = tmp_path / "reads.csv"
    header = HEADER.replace("confidence\n", "confidence,vehicle_model\n")
    good = row().replace("\n", ',"two\nlines"\n')
    path.write_text(header + good + "\n" + row(plate="??").replace("\n", ",x\n"))

    (problem,) = problems_of(store, path)
    assert problem.startswith("reads.csv:5: plate: '??' is not a plate")


def test_records_with_the_wrong_number_of_fields_are_named(
    store: NodeStore, tmp_path: Path
) -> None:
    path = tmp_path / "reads.csv"
    path.write_text(HEADER + "ABC123,MN,1763647200\n")

    assert problems_of(store, path) == ["reads.csv:2: 3 fields where the header names 7"]


def test_a_file_that_is_not_utf8_is_refused(store: NodeStore, tmp_path: Path) -> None:
    path = tmp_path / "reads.csv"
    path.write_bytes(HEADER.encode() + row().encode() + b"\xff\xfe,MN\n")

    (problem,) = problems_of(store, path)
    assert "not UTF-8" in problem


def test_duplicate_and_bad_cameras_are_refused_with_their_lines(
    store: NodeStore, tmp_path: Path
) -> None:
    cameras = tmp_path / "cameras.csv"
    cameras.write_text(
        "camera_id,name,latitude,longitude\n"
        "cam-1,First,44.97,-93.26\n"
        "cam-1,Again,44.97,-93.26\n"
        "Cam 2,Bad id,44.97,-93.26\n"
    )
    reads = tmp_path / "reads.csv"
    reads.write_text(HEADER + row())

    problems = problems_of(store, reads, cameras)

    assert problems[0] == "cameras.csv:3: camera 'cam-1' is listed twice"
    assert problems[1].startswith("cameras.csv:4: camera_id:")
    assert store.known_camera_ids(["cam-1"]) == set()


def test_an_empty_file_names_the_missing_columns(store: NodeStore, tmp_path: Path) -> None:
    path = tmp_path / "reads.csv"
    path.write_text("")

    (problem,) = problems_of(store, path)
    assert problem.startswith("reads.csv:1: missing column(s): plate, plate_state")
