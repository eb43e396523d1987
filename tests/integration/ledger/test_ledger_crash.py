"""A real process appending to the ledger is killed with SIGKILL; the ledger still verifies.

The child (append_until_killed.py) appends batches in a tight loop and prints each committed
size; it is killed right after reporting a commit, while it builds or writes the next batch.
Every commit it reported must survive, nothing half-written may remain, and the log must
carry on from where it stopped.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from alprfed.clock import FixedClock
from alprfed.ledger.entry import PendingEntry, decode_entry
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.store import LedgerStore
from alprfed.ledger.verify import verify_ledger
from alprfed.signing import SigningKey

ORIGIN = "ledger.alprfed.test/federation"
CHILD = Path(__file__).with_name("append_until_killed.py")
KILLS = 3
COMMITS_BEFORE_KILL = 4


def _append_until_killed(url: str, key_file: Path) -> int:
    """Run the child until it reports COMMITS_BEFORE_KILL commits, SIGKILL it, return the last
    size it reported as committed."""
    child = subprocess.Popen(
        [sys.executable, str(CHILD), url, str(key_file), ORIGIN],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    committed = 0
    try:
        for _ in range(COMMITS_BEFORE_KILL):
            line = child.stdout.readline()
            if not line:
                raise AssertionError(f"the appender died on its own: {child.stderr.read()}")
            committed = int(line)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
        child.stderr.close()  # type: ignore[union-attr]
    assert child.returncode == -signal.SIGKILL
    return committed


@pytest.mark.slow
def test_a_killed_appender_leaves_a_ledger_that_verifies(
    database_url: str,
    ledger_key: SigningKey,
    clock: FixedClock,
    verifier: NoteVerifier,
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "ledger.pem"
    ledger_key.save(key_file)
    reported = 0
    for _ in range(KILLS):
        reported = _append_until_killed(database_url, key_file)
        store = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
        try:
            report = verify_ledger(store, [verifier])
            assert report.size >= reported  # every reported commit survived
            assert store.size() == report.size  # and nothing beyond a signed checkpoint
            for data in store.entries(max(0, report.size - 50), report.size):
                entry = decode_entry(data)
                assert len(store.open_commitments(entry.index)) == len(entry.commitments)
        finally:
            store.close()
    store = LedgerStore.open(database_url, origin=ORIGIN, signer=ledger_key, clock=clock)
    try:
        store.append_batch([PendingEntry("query_decision", {"after": "crashes"})])
        assert verify_ledger(store, [verifier]).size > reported
    finally:
        store.close()
