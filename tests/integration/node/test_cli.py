"""`alprfed node seed | import | purge` through click with real files and a real database."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from node_configs import seed_ages, write_config

from agency_node.seed import DEMO_PLATES
from agency_node.storage import NodeStore
from alprfed.cli.main import cli
from alprfed.models import Position, SensitiveSite, Sighting
from alprfed.signing import PURGE_REPORT_TYPE, SigningKey, keyring, open_envelope

SIGHTINGS_HEADER = (
    "plate,plate_state,observed_at,camera_id,latitude,longitude,confidence,"
    "vehicle_make,vehicle_model,vehicle_color,image_uri\n"
)
CAMERAS_CSV = (
    "camera_id,name,latitude,longitude,sensitive_site\n"
    "npd-cam-001,Granby St & Brambleton Ave,36.853000,-76.287000,\n"
    'npd-cam-002,"Clinic, Colley Ave",36.862100,-76.301200,reproductive_health_care\n'
)
GOOD_ROWS = (
    "ABC-1234,VA,2025-11-20T08:15:00-05:00,npd-cam-001,36.853010,-76.287020,0.93,"
    "Honda,Accord,Blue,https://evidence.example/1.jpg\n"
    "abc 1234,va,1763647200,npd-cam-002,36.8621,-76.3012,1,,,,\n"
)


@pytest.fixture
def config(tmp_path: Path, database_url: str, node_key: SigningKey) -> Path:
    return write_config(tmp_path, database_url, node_key)


@pytest.fixture
def archive_config(tmp_path: Path, database_url: str, node_key: SigningKey) -> Path:
    """The import tests hold reads of November 2025: a node whose retention still allows them
    (a Virginia node keeps 21 days and refuses older reads; see the retention test below)."""
    return write_config(tmp_path, database_url, node_key, state="IL", retention=20 * 365 * 86_400)


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["node", *map(str, args)])


def count(database_url: str) -> int:
    with NodeStore.open(database_url) as store:
        return store.count_sightings()


def test_seed_fills_the_database_and_lists_the_demo_plates(config: Path, database_url: str) -> None:
    result = run(
        "seed",
        "--config",
        config,
        "--sightings",
        3000,
        "--seed",
        4,
        "--now",
        "2025-11-24T16:00:00Z",
        "--days",
        14,
    )

    assert result.exit_code == 0, result.output
    assert "3,000 sightings" in result.output
    assert "Norfolk, VA" in result.output
    for demo in DEMO_PLATES:
        assert demo.plate in result.output
    assert count(database_url) == 3000


def test_seed_refuses_an_unknown_city_as_a_usage_error(config: Path) -> None:
    result = run("seed", "--config", config, "--sightings", 10, "--seed", 1, "--city", "gotham")

    assert result.exit_code == 2


def test_import_stores_every_record_with_its_cameras(
    archive_config: Path, database_url: str, tmp_path: Path
) -> None:
    result = _import(archive_config, tmp_path)

    assert result.exit_code == 0, result.output
    assert "imported 2 sightings and 2 cameras into npd" in result.output
    with NodeStore.open(database_url) as store:
        first, second = store.find_sightings("ABC1234", 0, 2_000_000_000)
    assert first == Sighting(
        id=first.id,
        plate="ABC1234",
        plate_state="VA",
        observed_at=1_763_644_500,
        camera_id="npd-cam-001",
        position=Position(36_853_010, -76_287_020),
        confidence_per_mille=930,
        vehicle_make="Honda",
        vehicle_model="Accord",
        vehicle_color="blue",
        image_uri="https://evidence.example/1.jpg",
    )
    assert (second.observed_at, second.confidence_per_mille) == (1_763_647_200, 1000)
    assert second.sensitive_site is SensitiveSite.REPRODUCTIVE_HEALTH_CARE


def test_import_with_bad_records_stores_nothing_and_names_each_line(
    archive_config: Path, database_url: str, tmp_path: Path
) -> None:
    (tmp_path / "cameras.csv").write_text(CAMERAS_CSV)
    rows = (
        GOOD_ROWS
        + "AB$123,VA,1763647200,npd-cam-001,36.85,-76.28,0.9,,,,\n"  # line 4
        + "XYZ9876,VA,1763647200,npd-cam-404,36.85,-76.28,0.9,,,,\n"  # line 5
        + "XYZ9876,VA,2025-11-20T08:15:00,npd-cam-001,36.85,-76.28,0.9,,,,\n"  # line 6
        + "XYZ9876,VA,1763647200,npd-cam-001,36.85,-76.28,93,,,,\n"  # line 7
    )
    (tmp_path / "reads.csv").write_text(SIGHTINGS_HEADER + rows)

    result = run(
        "import",
        tmp_path / "reads.csv",
        "--config",
        archive_config,
        "--cameras",
        tmp_path / "cameras.csv",
    )

    assert result.exit_code == 1
    assert "reads.csv:4: plate:" in result.stderr
    assert "reads.csv:5: camera 'npd-cam-404'" in result.stderr
    assert "reads.csv:6: observed_at:" in result.stderr
    assert "reads.csv:7: confidence:" in result.stderr
    assert "4 bad record(s); nothing was imported" in result.stderr
    assert count(database_url) == 0
    with NodeStore.open(database_url) as store:
        assert store.known_camera_ids(["npd-cam-001"]) == set()


def test_import_refuses_reads_the_node_may_not_hold(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    virginia = write_config(tmp_path, database_url, node_key)  # 21 days, Va. Code 2.2-5517
    now = int(time.time())
    (tmp_path / "cameras.csv").write_text(CAMERAS_CSV)
    (tmp_path / "reads.csv").write_text(
        SIGHTINGS_HEADER
        + f"ABC1234,VA,{now - 3600},npd-cam-001,36.85,-76.28,0.9,,,,\n"  # fine
        + f"ABC1234,VA,{now - 30 * 86_400},npd-cam-001,36.85,-76.28,0.9,,,,\n"  # line 3
        + f"ABC1234,VA,{now + 86_400},npd-cam-001,36.85,-76.28,0.9,,,,\n"  # line 4
    )
    result = run(
        "import",
        tmp_path / "reads.csv",
        "--config",
        virginia,
        "--cameras",
        tmp_path / "cameras.csv",
    )
    assert result.exit_code == 1
    assert "reads.csv:3: observed_at" in result.stderr
    assert "older than this node's retention" in result.stderr
    assert "reads.csv:4: observed_at" in result.stderr
    assert "in the future" in result.stderr
    assert count(database_url) == 0


def test_import_lists_the_first_twenty_problems_and_counts_the_rest(
    archive_config: Path, database_url: str, tmp_path: Path
) -> None:
    bad = "".join(f"P{i},VA,1763647200,nowhere-{i},36.85,-76.28,0.9,,,,\n" for i in range(25))
    (tmp_path / "reads.csv").write_text(SIGHTINGS_HEADER + bad)

    result = run("import", tmp_path / "reads.csv", "--config", archive_config)

    assert result.exit_code == 1
    assert result.stderr.count("reads.csv:") == 20
    assert "... and 5 more" in result.stderr
    assert "25 bad record(s)" in result.stderr


def test_import_refuses_a_misspelt_column(config: Path, tmp_path: Path) -> None:
    header = SIGHTINGS_HEADER.replace("confidence", "confidnce")
    (tmp_path / "reads.csv").write_text(header + GOOD_ROWS)

    result = run("import", tmp_path / "reads.csv", "--config", config)

    assert result.exit_code == 1
    assert "reads.csv:1: missing column(s): confidence; unknown column(s): confidnce" in (
        result.stderr
    )


def test_import_of_a_missing_file_is_a_usage_error(config: Path, tmp_path: Path) -> None:
    assert run("import", tmp_path / "absent.csv", "--config", config).exit_code == 2


def test_purge_applies_the_stricter_of_law_and_configuration(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    # Virginia caps retention at 21 days; the agency asked for 30.
    config = write_config(tmp_path, database_url, node_key, retention=30 * 86_400)
    seed_ages(database_url, [25 * 86_400, 22 * 86_400, 20 * 86_400, 3600])

    result = run("purge", "--config", config)

    assert result.exit_code == 0, result.output
    assert "purged 2 sightings" in result.output
    assert "retention 1,814,400 s, Va. Code 2.2-5517" in result.output
    with NodeStore.open(database_url) as store:
        assert store.count_sightings() == 2
        (queued,) = store.pending_purge_reports()
    report = open_envelope(
        queued.envelope, payload_type=PURGE_REPORT_TYPE, keys=keyring(node_key.public)
    )
    assert isinstance(report, dict)
    assert (report["node"], report["deleted_sightings"]) == ("npd", 2)


def test_purge_uses_the_configured_retention_where_the_law_sets_none(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, database_url, node_key, state="CA", retention=3600)
    seed_ages(database_url, [7200, 60])

    result = run("purge", "--config", config)

    assert result.exit_code == 0, result.output
    assert "purged 1 sightings" in result.output
    assert count(database_url) == 1


def test_purge_refuses_without_any_retention(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, database_url, node_key, state="CA")
    seed_ages(database_url, [10 * 365 * 86_400])

    result = run("purge", "--config", config)

    assert result.exit_code == 1
    assert "retention_seconds" in result.stderr
    assert count(database_url) == 1


# --- progress bars: stderr, only when asked for off a terminal, never when quiet ----------------


def _import(archive_config: Path, tmp_path: Path, *flags: str) -> Result:
    """`node import` of the two good reads and their cameras, with ``flags``."""
    (tmp_path / "cameras.csv").write_text(CAMERAS_CSV)
    (tmp_path / "reads.csv").write_text(SIGHTINGS_HEADER + GOOD_ROWS)
    return run(
        "import",
        tmp_path / "reads.csv",
        "--config",
        archive_config,
        "--cameras",
        tmp_path / "cameras.csv",
        *flags,
    )


def test_import_draws_its_progress_on_stderr_when_forced(
    archive_config: Path, tmp_path: Path
) -> None:
    result = _import(archive_config, tmp_path, "--progress")
    assert result.exit_code == 0, result.output
    assert "importing" in result.stderr
    assert "2/2" in result.stderr  # every record counted against the file's total
    assert "importing" not in result.stdout  # stdout stays the answer a script reads
    assert "imported 2 sightings" in result.stdout


@pytest.mark.parametrize("flags", [(), ("--quiet",), ("--quiet", "--progress")])
def test_import_draws_no_bar_off_a_terminal_or_when_quiet(
    archive_config: Path, tmp_path: Path, flags: tuple[str, ...]
) -> None:
    result = _import(archive_config, tmp_path, *flags)
    assert result.exit_code == 0, result.output
    assert "importing" not in result.stderr
    assert "imported 2 sightings" in result.stdout


def test_seed_draws_its_progress_against_the_sightings_asked_for(config: Path) -> None:
    result = run(
        "seed",
        "--config",
        config,
        "--sightings",
        "500",
        "--seed",
        "4",
        "--now",
        "2025-11-24T16:00:00Z",
        "--progress",
    )
    assert result.exit_code == 0, result.output
    assert "seeding" in result.stderr
    assert "500/500" in result.stderr
