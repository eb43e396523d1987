"""Fixtures for a real witness server (tests/witnesses.py ``live_witness``) on a real
database: each test runs on SQLite and on PostgreSQL (``database_url``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from witnesses import SigningLog, witness_config

from witness.config import WitnessConfig


@pytest.fixture
def log() -> SigningLog:
    return SigningLog()


@pytest.fixture
def config(database_url: str, tmp_path: Path, log: SigningLog) -> WitnessConfig:
    return witness_config(database_url, tmp_path / "witness-key.pem", [log])
