"""Tiny runs of every benchmark part, so the benchmarks keep working as the system changes.

These assert that each part runs the real system end to end and reports well-formed results
(every figure finite and positive, beside a floor, with its targets evaluated, in JSON and in
Markdown). They never assert on timing: the tiny sizes make every figure meaningless.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import POSTGRES_URL, require_postgres

from agency_node.storage import NodeStore
from bench import (
    city,
    city_data,
    decision,
    evidence_check,
    fanout,
    ingest,
    ledger,
    national,
    node_search,
    witnessing,
)
from bench.environment import POSTGRES, SQLITE, BenchEnv
from bench.federation import node_ids
from bench.hosts import REPO_ROOT
from bench.parts import preset
from bench.report import Figure, PartReport, table_rows

TINY = preset("tiny")
UNITS = {"ms", "µs", "s", "/s", "x"}
DATABASES = [SQLITE, pytest.param(POSTGRES, marks=pytest.mark.postgres)]


@pytest.fixture
def make_env(tmp_path: Path) -> Callable[[str], BenchEnv]:
    def make(database: str) -> BenchEnv:
        postgres = None
        if database == POSTGRES:
            require_postgres()
            postgres = POSTGRES_URL
        work = tmp_path / "work"
        work.mkdir(exist_ok=True)
        return BenchEnv(work, tmp_path / "cache", postgres, seed=7, log=lambda _: None)

    return make


def well_formed(report: PartReport, part: str) -> dict[str, list[Figure]]:
    """Check every figure; return them by measure."""
    assert report.part == part
    assert report.figures
    assert report.notes
    by_measure: dict[str, list[Figure]] = {}
    for figure in report.figures:
        assert figure.part == part
        assert figure.unit in UNITS
        assert math.isfinite(figure.value)
        assert figure.value > 0
        assert figure.floor is not None
        assert math.isfinite(figure.floor)
        assert figure.floor > 0
        assert figure.floor_label
        assert figure.met in (None, True, False)
        assert (figure.met is None) == (not figure.targets)
        by_measure.setdefault(figure.measure, []).append(figure)
    rendered = json.loads(json.dumps(report.to_json()))
    assert len(rendered["figures"]) == len(report.figures)
    assert all(
        row[2].endswith(f.unit)
        for row, f in zip(table_rows(report.figures), report.figures, strict=True)
    )
    return by_measure


@pytest.mark.parametrize("database", DATABASES)
def test_node_search_reports_each_size_and_the_growth(
    make_env: Callable[[str], BenchEnv], database: str
) -> None:
    settings = replace(TINY.node_search, databases=(database,))
    figures = well_formed(node_search.run(settings, make_env(database)), node_search.PART)
    assert len(figures["search p50"]) == len(settings.sizes)
    assert all(f.targets for f in figures["search p50"])
    assert len(figures["search p50, 16 queries per checkpoint"]) == len(settings.sizes)
    assert len(figures["p50 growth with the table"]) == 1
    # The node's own timing of the evidence checks of both phases, against issue 10's budget.
    for phase in ("a fresh checkpoint per query", "16 queries per checkpoint"):
        checks = figures[f"evidence check p50 (the node's own timing), {phase}"]
        assert len(checks) == len(settings.sizes)
        assert all(f.targets and f"{settings.latency_calls} checks" in f.note for f in checks)


@pytest.mark.parametrize("database", DATABASES)
def test_ingest_reports_both_paths_beside_bulk_load(
    make_env: Callable[[str], BenchEnv], database: str
) -> None:
    settings = replace(TINY.ingest, databases=(database,))
    report = ingest.run(settings, make_env(database))
    figures = well_formed(report, ingest.PART)
    assert len(report.figures) == 2 * len(settings.sizes)
    assert all(f.floor_label == "bulk_load" for fs in figures.values() for f in fs)


@pytest.mark.postgres
def test_city_reports_search_purge_and_ingest_and_keeps_its_city(
    make_env: Callable[[str], BenchEnv],
) -> None:
    env = make_env(POSTGRES)
    shape = TINY.city.shape
    figures = well_formed(city.run(TINY.city, env), city.PART)
    for measure in ("search p99", "purge a day (whole partition)", "sustained ingest"):
        (figure,) = figures[measure]
        assert figure.targets, measure
    # The purged day was put back and the ingested days dropped: the cache is as built.
    assert city_data.built_rows(POSTGRES_URL, shape) == shape.reads
    with NodeStore.open(city_data.city_url(POSTGRES_URL, shape)) as store:
        assert store.count_sightings() == shape.reads


def test_witnessing_reports_latency_and_rate_with_three_witness_processes(
    make_env: Callable[[str], BenchEnv],
) -> None:
    figures = well_formed(witnessing.run(TINY.witnessing, make_env(SQLITE)), witnessing.PART)
    (latency,) = figures["append to witnessed checkpoint p50"]
    assert latency.targets
    assert latency.value >= latency.floor  # witnessing never makes an append faster
    assert len(figures["witnessed appends/s"]) == 1


def test_fanout_reports_each_node_count_and_both_faults(
    make_env: Callable[[str], BenchEnv],
) -> None:
    settings = TINY.fanout
    figures = well_formed(fanout.run(settings, make_env(SQLITE)), fanout.PART)
    assert len(figures["federated query p50"]) == len(settings.node_counts)
    # Through 3 witness processes, beside an unwitnessed twin asked in alternation with it.
    (witnessed,) = figures["federated query p50, witnessed"]
    assert witnessed.floor_label == "the same queries, unwitnessed"
    assert f"interleaved: {settings.latency_calls} rounds" in witnessed.note
    faults = [f for fs in figures.values() for f in fs if "one " in f.config]
    assert sorted(f.config.rsplit(" ", 1)[1] for f in faults) == ["dead", "hanging"]
    assert all(f.floor == settings.deadline_s * 1000 for f in faults)


def test_national_reports_answer_time_cpu_and_decision_with_dead_and_hanging_nodes(
    make_env: Callable[[str], BenchEnv],
) -> None:
    settings = TINY.national  # 8 nodes over 2 processes: one dead, one hanging
    faults = national.Faults.among(node_ids(settings.nodes), settings.faulty_every)
    assert (len(faults.dead), len(faults.hanging)) == (1, 1)
    figures = well_formed(national.run(settings, make_env(SQLITE)), national.PART)
    (p99,) = figures["national answer p99"]
    assert p99.targets
    assert p99.config.startswith(f"{settings.nodes} nodes (1 dead, 1 hanging)")
    (decided,) = figures["decision p50"]
    assert decided.targets
    assert len(figures["gateway CPU per addressed node"]) == 1


def test_decision_reports_every_federation_size(make_env: Callable[[str], BenchEnv]) -> None:
    settings = TINY.decision
    figures = well_formed(decision.run(settings, make_env(SQLITE)), decision.PART)
    # aimed at every agency and at one, for each federation size
    assert len(figures["decision p50"]) == 2 * len(settings.agency_counts)


@pytest.mark.parametrize("database", DATABASES)
def test_ledger_reports_appends_proofs_and_verification(
    make_env: Callable[[str], BenchEnv], database: str
) -> None:
    settings = replace(TINY.ledger, databases=(database,))
    figures = well_formed(ledger.run(settings, make_env(database)), ledger.PART)
    assert len(figures["durable appends/s"]) == len(settings.appends)
    assert len(figures["inclusion proof p50"]) == len(settings.proof_sizes)
    assert len(figures["alprfed ledger verify"]) == len(settings.verify_sizes)


def test_the_command_writes_json_and_markdown(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "decision", "--preset", "tiny", "--no-postgres",
         "--results", str(results), "--cache", str(tmp_path / "cache")],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (written,) = results.glob("*.json")
    data = json.loads(written.read_text())
    assert [p["part"] for p in data["parts"]] == ["decision"]
    assert data["machine"]["cpus usable (nproc)"].isdigit()
    assert data["parts"][0]["figures"]
    assert "decision p50" in written.with_suffix(".md").read_text()


@pytest.mark.parametrize("per_checkpoint", [1, 16])
def test_the_evidence_microbenchmark_checks_evidence_the_node_accepts(
    per_checkpoint: int, capsys: pytest.CaptureFixture[str]
) -> None:
    """bench.evidence_check stops at the first refused check, so a run that reports at all
    verified every bundle it built."""
    evidence_check.run(queries=40, per_checkpoint=per_checkpoint, profile=False, top=5)
    assert (
        f"evidence check, {per_checkpoint} per checkpoint, 36 calls: p50" in capsys.readouterr().out
    )
