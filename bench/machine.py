"""The machine a run measured: CPU, memory, and the versions of everything on the hot paths.

Only facts a reader needs to compare runs; never a path of this machine.
"""

from __future__ import annotations

import os
import platform
import shutil
import sqlite3
import subprocess
from importlib import metadata

import sqlalchemy as sa

LSCPU_TIMEOUT_S = 5
PACKAGES = ("grpcio", "protobuf", "cryptography", "SQLAlchemy", "psycopg", "pycasbin")


def _lscpu() -> dict[str, str]:
    if shutil.which("lscpu") is None:
        return {}
    try:
        output = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=LSCPU_TIMEOUT_S, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    fields = {}
    for line in output.splitlines():
        key, _, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _memory_gib() -> str:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemTotal:"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    return "unknown"


def postgres_version(url: str | None) -> str:
    """The server's version string, or why there is none."""
    if url is None:
        return "not used"
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(sa.text("SHOW server_version")).scalar_one())
    except sa.exc.SQLAlchemyError as exc:
        return f"unreachable ({type(exc).__name__})"
    finally:
        engine.dispose()


def describe_machine(postgres_url: str | None) -> dict[str, str]:
    """CPU model and count (as lscpu and nproc report them), memory, OS and versions."""
    cpu = _lscpu()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    facts = {
        "cpu": cpu.get("Model name", platform.processor() or "unknown"),
        "cpus usable (nproc)": str(usable),
        "hypervisor": cpu.get("Hypervisor vendor", "none reported"),
        "memory": _memory_gib(),
        "kernel": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres_version(postgres_url),
    }
    for package in PACKAGES:
        try:
            facts[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            facts[package] = "not installed"
    return facts
