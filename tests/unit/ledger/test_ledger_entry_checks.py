"""Per-entry checks, in this process and in worker processes, find the same first fault."""

from __future__ import annotations

import pytest

from alprfed.ledger.entry import GENESIS_PREV, encode_entry
from alprfed.ledger.entry_checks import EntryChecks, check_page
from alprfed.ledger.merkle import leaf_hash


def _log(size: int) -> list[bytes]:
    entries, prev = [], GENESIS_PREV
    for index in range(size):
        data = encode_entry(
            index=index,
            prev=prev,
            time=1_764_000_000,
            kind="query_decision",
            body={"n": index},
            commitments=[],
        )
        entries.append(data)
        prev = leaf_hash(data)
    return entries


def _run(entries: list[bytes], workers: int, page: int) -> tuple[int, str] | None:
    """Submit ``entries`` page by page, each with the leaf hash of the entry before it."""
    with EntryChecks(workers) as checks:
        for start in range(0, len(entries), page):
            prev = leaf_hash(entries[start - 1]) if start else GENESIS_PREV
            checks.submit(start, prev, entries[start : start + page])
        return checks.first_fault()


def test_a_valid_log_has_no_fault() -> None:
    assert check_page(0, GENESIS_PREV, _log(20)) is None


@pytest.mark.parametrize("workers", [1, 2])
def test_the_first_fault_in_log_order_is_found(workers: int) -> None:
    entries = _log(40)
    entries[23] = entries[23].replace(b'"n":23', b'"n": 23')  # not canonical any more
    entries[31], entries[32] = entries[32], entries[31]  # a later fault, which must not win
    fault = _run(entries, workers, page=7)
    assert fault is not None
    assert fault[0] == 23
    assert "not canonical" in fault[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_a_broken_chain_across_a_page_boundary_is_found(workers: int) -> None:
    entries = _log(30)
    del entries[14]  # page 2 starts at index 14 with what was entry 15
    fault = _run(entries, workers, page=7)
    assert fault is not None
    assert fault[0] == 14
