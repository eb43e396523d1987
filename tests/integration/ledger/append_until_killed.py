"""Helper process for test_ledger_crash: append batches to a ledger until killed.

Usage: python append_until_killed.py DATABASE_URL KEY_PEM ORIGIN

After each committed batch it prints the committed size, so the test knows what must survive.
"""

from __future__ import annotations

import random
import sys
from pathlib import Path

from alprfed.clock import SYSTEM_CLOCK
from alprfed.ledger.entry import PendingEntry
from alprfed.ledger.store import LedgerStore
from alprfed.signing import SigningKey

MAX_BATCH = 200


def main(url: str, key_file: str, origin: str) -> None:
    store = LedgerStore.open(
        url, origin=origin, signer=SigningKey.load(Path(key_file)), clock=SYSTEM_CLOCK
    )
    chooser = random.Random()
    while True:
        batch = [
            PendingEntry(
                "query_outcome",
                {"n": chooser.randrange(10**9)},
                ("7ABC123",) * chooser.randrange(3),
            )
            for _ in range(chooser.randrange(1, MAX_BATCH))
        ]
        appended = store.append_batch(batch)
        print(appended[-1].index + 1, flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
