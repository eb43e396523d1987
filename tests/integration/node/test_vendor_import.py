"""Each vendor format's fixture, imported on SQLite and PostgreSQL, answers a signed query with
the right plate, time, camera and position; bad payloads name the field and store nothing."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import NOW, credential
from factories import requester, search_query, sign_query
from nodes import RunningNode

from agency_node.csv_import import read_cameras_file
from agency_node.formats.importer import ImportSource, check_file, import_file
from agency_node.formats.mapped_csv import load_mapping
from agency_node.formats.problems import ImportRejected
from agency_node.law_guard import NodeLawGuard, ObservationBounds
from agency_node.storage import NodeStore
from alprfed import wire
from alprfed.cli.main import cli
from alprfed.clock import FixedClock
from alprfed.models import Position
from alprfed.signing import SigningKey
from alprfed.v1 import common_pb2, node_pb2

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
PLATE = "8XYZ345"  # every fixture holds one read of it
ANY_TIME = ObservationBounds(oldest=0, newest=2**62)
PR_CAMERA = Position(37_336_100, -121_890_600)  # the registered positions, from cameras.csv
VERKADA_CAMERA = Position(37_409_900, -121_948_800)


def utc(text: str) -> int:
    return int(dt.datetime.fromisoformat(text).timestamp())


@dataclass(frozen=True)
class Expected:
    file: str
    format: str
    reads: int
    observed_at: int
    camera_id: str
    position: Position
    camera_option: str | None = None


CASES = [
    Expected(
        "platerecognizer-webhook.json", "platerecognizer-webhook", 2,
        utc("2025-11-24T14:05:09Z"), "camera-1", PR_CAMERA,
    ),
    Expected(
        "platerecognizer.jsonl", "platerecognizer-jsonl", 2,
        utc("2025-11-24T14:10:40Z"), "camera-1", PR_CAMERA,
    ),
    Expected(
        "platerecognizer.csv", "platerecognizer-csv", 2,
        utc("2025-11-24T14:20:43Z"), "camera-1", PR_CAMERA, camera_option="camera-1",
    ),
    Expected(  # the agent's GPS fix, not the registered position
        "rekor-alpr-group.json", "rekor-alpr-group", 1,
        utc("2025-11-24T14:22:07Z"), "1234", Position(37_333_100, -121_904_900),
    ),
    Expected(
        "verkada-lpr.json", "verkada-lpr", 1,
        utc("2025-11-24T14:45:01Z"), "38718198-8a78-4718-a60f-68e1a8de30ac", VERKADA_CAMERA,
    ),
    Expected(  # 07:30:12 Pacific standard time is 15:30:12 UTC
        "vendor-x-export.csv", "mapped-csv", 2,
        utc("2025-11-24T15:30:12Z"), "lot-east", Position(37_351_250, -121_858_310),
    ),
]  # fmt: skip


def source(case: Expected, path: Path | None = None) -> ImportSource:
    mapping = (
        load_mapping(FIXTURES / "vendor-x-mapping.toml") if case.format == "mapped-csv" else None
    )
    return ImportSource(
        path or FIXTURES / case.file, case.format, camera_id=case.camera_option, mapping=mapping
    )


def run_import(database_url: str, src: ImportSource) -> tuple[int, int]:
    cameras = read_cameras_file(FIXTURES / "cameras.csv")
    with NodeStore.open(database_url) as store:
        check_file(store, src, ANY_TIME, cameras)
        outcome = import_file(store, src, ANY_TIME, cameras)
    return outcome.stored, outcome.duplicates


def query_answer(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, now: int
) -> list[common_pb2.Sighting]:
    query = search_query(now, plate=PLATE, requester=requester())
    request = node_pb2.SearchRequest(
        query=wire.envelope_to_pb(sign_query(gateway_key, query)),
        evidence=node.authority.evidence(query),
    )
    stub = node.stub(credential(pki_dir, "federation", "gateway"))
    return list(stub.Search(request, timeout=10).sightings)


@pytest.mark.parametrize("case", CASES, ids=[case.format for case in CASES])
def test_fixture_round_trips_into_a_query_answer(
    node: RunningNode,
    pki_dir: Path,
    gateway_key: SigningKey,
    clock: FixedClock,
    database_url: str,
    case: Expected,
) -> None:
    stored, duplicates = run_import(database_url, source(case))
    assert (stored, duplicates) == (case.reads, 0)

    answer = query_answer(node, pki_dir, gateway_key, clock.now())

    assert [(s.plate, s.observed_at, s.camera_id) for s in answer] == [
        (PLATE, case.observed_at, case.camera_id)
    ]
    assert wire.position_from_pb(answer[0].position) == case.position


@pytest.mark.parametrize("case", CASES, ids=[case.format for case in CASES])
def test_reimporting_a_fixture_stores_nothing_twice(database_url: str, case: Expected) -> None:
    run_import(database_url, source(case))

    assert run_import(database_url, source(case)) == (0, case.reads)
    with NodeStore.open(database_url) as store:
        assert store.count_sightings() == case.reads


def test_vendor_fields_reach_the_stored_read(database_url: str) -> None:
    run_import(database_url, source(CASES[3]))  # Rekor: make, model and colour ranked lists
    run_import(database_url, source(CASES[4]))  # Verkada: an image reference
    with NodeStore.open(database_url) as store:
        rekor, verkada = store.find_sightings(PLATE, 0, 2**40)
    assert (rekor.vehicle_make, rekor.vehicle_model, rekor.vehicle_color) == (
        "toyota", "camry", "silver-gray",
    )  # fmt: skip
    assert rekor.confidence_per_mille == 942  # best_confidence 94.175... per cent
    assert verkada.image_uri == "https://verkada-lpr-images.example/38718198/1763995501.jpg"
    assert verkada.confidence_per_mille == 963


def write_config(directory: Path, database_url: str, key: SigningKey) -> Path:
    """An Illinois node keeping reads for years, so the fixtures' November 2025 reads fit."""
    key.save(directory / "node.key")
    path = directory / "node.toml"
    path.write_text(
        "[node]\n"
        'agency_id = "npd"\n'
        'state = "IL"\n'
        f'database_url = "{database_url}"\n'
        'signing_key = "node.key"\n'
        f'gateway_key = "{SigningKey.generate().public.to_text()}"\n'
        "retention_seconds = 1000000000\n"
    )
    return path


def broken(case: Expected, tmp_path: Path) -> tuple[Path, str]:
    """The fixture with one good record kept and one broken, and the field the error names."""
    text = (FIXTURES / case.file).read_text()
    path = tmp_path / case.file
    if case.format == "platerecognizer-webhook":
        body = json.loads(text)
        del body["data"]["results"][1]["region"]
        path.write_text(json.dumps(body))
        return path, "platerecognizer-webhook.json:1: data.results[1].region: is missing"
    if case.format == "platerecognizer-jsonl":
        path.write_text(text.replace('"2025-11-24T14:12:03.550000Z"', '"yesterday"'))
        return path, "platerecognizer.jsonl:3: timestamp"
    if case.format == "platerecognizer-csv":
        path.write_text(text.replace(",0.903,", ",high,"))
        return path, "platerecognizer.csv:3: score"
    if case.format == "rekor-alpr-group":
        good = json.loads(text)
        bad = dict(good, best_confidence=140, epoch_start=good["epoch_start"] + 9000)
        path.write_text(json.dumps([good, bad]))
        return path, "rekor-alpr-group.json:2: best_confidence"
    if case.format == "verkada-lpr":
        good = json.loads(text)
        bad = json.loads(text)
        bad["data"]["license_plate_number"] = "8XY#345"
        path.write_text(json.dumps([good, bad]))
        return path, "verkada-lpr.json:2: data.license_plate_number"
    path.write_text(text.replace("11/24/2025 07:31:55", "24/11/2025 07:31:55"))
    return path, "vendor-x-export.csv:3: Read Time"


@pytest.mark.parametrize("case", CASES, ids=[case.format for case in CASES])
def test_a_malformed_payload_names_the_field_and_stores_nothing(
    database_url: str, tmp_path: Path, case: Expected
) -> None:
    path, named = broken(case, tmp_path)

    with pytest.raises(ImportRejected) as rejected:
        run_import(database_url, source(case, path))

    assert any(str(problem).startswith(named) for problem in rejected.value.problems), [
        str(p) for p in rejected.value.problems
    ]
    with NodeStore.open(database_url) as store:
        assert store.count_sightings() == 0
        assert store.known_camera_ids(["camera-1", "lot-east"]) == set()


def test_a_read_from_an_unregistered_camera_is_refused(database_url: str) -> None:
    case = CASES[4]
    with NodeStore.open(database_url) as store, pytest.raises(ImportRejected) as rejected:
        check_file(store, source(case), ANY_TIME)
    assert "data.camera_id" in str(rejected.value.problems[0])
    assert "not registered on this node" in str(rejected.value.problems[0])


def test_the_cli_reports_stored_and_duplicates_as_json(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, database_url, node_key)
    args = [
        "node", "import", str(FIXTURES / "vendor-x-export.csv"), "--config", str(config),
        "--format", "mapped-csv", "--mapping", str(FIXTURES / "vendor-x-mapping.toml"),
        "--cameras", str(FIXTURES / "cameras.csv"), "--json",
    ]  # fmt: skip

    first = CliRunner().invoke(cli, args)
    again = CliRunner().invoke(cli, args)

    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["stored"] == 2
    assert json.loads(again.stdout) | {"cameras_registered": 0} == {
        "agency_id": "npd",
        "format": "mapped-csv",
        "file": str(FIXTURES / "vendor-x-export.csv"),
        "reads": 2,
        "stored": 0,
        "duplicates_skipped": 2,
        "cameras_registered": 0,
    }


def test_the_cli_says_which_option_a_format_needs(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, database_url, node_key)
    result = CliRunner().invoke(
        cli,
        ["node", "import", str(FIXTURES / "vendor-x-export.csv"), "--config", str(config),
         "--format", "mapped-csv"],
    )  # fmt: skip
    assert result.exit_code == 1
    assert "mapping: the mapped-csv format needs --mapping FILE" in result.stderr


def test_washington_refuses_to_store_reads_from_a_camera_at_a_school(
    database_url: str, tmp_path: Path
) -> None:
    from alprfed.config import bundled_policies_dir
    from alprfed.law import load_law_book

    guard = NodeLawGuard(
        law_book=load_law_book(bundled_policies_dir()),
        agency_id="seattle-pd",
        state="WA",
        configured_retention=None,
    )
    washington = replace(guard.ingest_bounds(NOW), oldest=0)  # the fixtures are old for WA
    cameras = tmp_path / "cameras.csv"
    cameras.write_text(
        (FIXTURES / "cameras.csv")
        .read_text()
        .replace("the east lot,37.351200,-121.858300,", "the east lot,37.351200,-121.858300,school")
    )
    registered = read_cameras_file(cameras)
    src = source(CASES[5])
    with NodeStore.open(database_url) as store:
        with pytest.raises(ImportRejected) as rejected:
            check_file(store, src, washington, registered)
        assert store.count_sightings() == 0
    problems = [str(p) for p in rejected.value.problems]
    assert len(problems) == 2  # both reads, each explained
    assert "'lot-east' is registered at a school site" in problems[0]
    assert "WA-6002-sensitive-sites (WA, ESSB 6002 (2026))" in problems[0]
