"""`alprfed node ... --json` with a real configuration, key and database (SQLite and
PostgreSQL): stdout is one JSON document holding what the command did."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from node_configs import seed_ages, write_config

from agency_node.camera_tokens import CameraTokens
from agency_node.seed import DEMO_PLATES
from agency_node.storage import NodeStore
from alprfed.cli.main import cli
from alprfed.signing import SigningKey, VerifyingKey

SEED_NOW = 1_764_000_000  # 2025-11-24T16:00:00Z, the --now below


def run(*args: str | Path) -> Result:
    return CliRunner().invoke(cli, ["node", *map(str, args)])


def document(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def config(tmp_path: Path, database_url: str, node_key: SigningKey) -> Path:
    path = write_config(tmp_path, database_url, node_key)
    with path.open("a") as toml:
        toml.write('\n[webhook]\nlisten = "127.0.0.1:0"\ntokens = "camera-tokens.json"\n')
    return path


def test_seed_json_counts_what_the_database_now_holds(config: Path, database_url: str) -> None:
    seeded = document(
        run(
            "seed",
            "--config",
            config,
            "--sightings",
            2000,
            "--seed",
            4,
            "--now",
            "2025-11-24T16:00:00Z",
            "--days",
            7,
            "--json",
            "--progress",  # --json wins: no bar on stderr either
        )
    )
    assert (seeded["agency_id"], seeded["city"], seeded["sightings"]) == (
        "npd",
        "Norfolk, VA",
        2000,
    )
    assert seeded["window"]["to"] <= 1764000000
    assert seeded["window"]["from"] >= 1764000000 - 7 * 86_400
    with NodeStore.open(database_url) as store:
        assert store.count_sightings() == 2000
        for shown in seeded["demo_plates"]:
            held = store.find_sightings(shown["plate"], 0, SEED_NOW)
            assert shown["sightings_here"] == len(held)
    assert [d["plate"] for d in seeded["demo_plates"]] == [d.plate for d in DEMO_PLATES]


def test_purge_json_reports_the_deleted_count_and_the_statute(
    tmp_path: Path, database_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, database_url, node_key, retention=30 * 86_400)
    seed_ages(database_url, [25 * 86_400, 22 * 86_400, 20 * 86_400, 3600])
    purged = document(run("purge", "--config", config, "--json"))
    assert purged["deleted_sightings"] == 2
    assert purged["retention_seconds"] == 21 * 86_400  # Virginia's cap beats the config's 30 days
    assert purged["retention_source"] == "Va. Code 2.2-5517"
    assert purged["reports_awaiting_delivery"] == 1
    with NodeStore.open(database_url) as store:
        assert store.count_sightings() == 2


def test_purge_json_without_a_retention_is_one_error_line(
    tmp_path: Path, sqlite_url: str, node_key: SigningKey
) -> None:
    config = write_config(tmp_path, sqlite_url, node_key, state="CA")
    result = run("purge", "--config", config, "--json")
    assert result.exit_code == 1
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("error: ")
    assert "retention" in line


def test_keygen_json_gives_the_public_half_of_the_key_it_wrote(tmp_path: Path) -> None:
    out = tmp_path / "node.key"
    made = document(run("keygen", out, "--json"))
    public = SigningKey.load(out).public
    assert made == {"key_file": str(out), "public_key": public.to_text(), "key_id": public.key_id}
    assert VerifyingKey.from_text(made["public_key"]) == public
    again = run("keygen", out, "--json")
    assert again.exit_code == 1
    assert again.stdout == ""
    assert "refusing to overwrite" in again.stderr


def test_token_issue_list_and_revoke_json(config: Path) -> None:
    issued = document(run("token", "issue", "cam-7", "--config", config, "--json"))
    assert issued["camera_id"] == "cam-7"
    tokens = CameraTokens(config.parent / "camera-tokens.json")
    assert tokens.camera_for(issued["token"]) == "cam-7"  # the printed token authenticates
    listed = document(run("token", "list", "--config", config, "--json"))
    assert listed == {"tokens": [{"camera_id": "cam-7", "issued_at": issued["issued_at"]}]}
    revoked = document(run("token", "revoke", "cam-7", "--config", config, "--json"))
    assert revoked == {"camera_id": "cam-7", "revoked": True}
    assert document(run("token", "list", "--config", config, "--json")) == {"tokens": []}
    assert tokens.camera_for(issued["token"]) is None
