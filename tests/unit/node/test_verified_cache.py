"""The node's memory of verified checkpoints and warrants: bounded, least recently used first."""

from __future__ import annotations

from agency_node.verified_cache import VerifiedCache


def test_the_entry_in_use_survives_a_stream_of_others() -> None:
    cache = VerifiedCache[str, int](3)
    cache.put("shared checkpoint", 1)
    for i in range(10):
        assert cache.get("shared checkpoint") == 1  # every query of the batch uses it
        cache.put(f"other {i}", i)
    assert cache.get("other 9") == 9
    assert cache.get("other 8") == 8
    assert cache.get("other 7") is None  # dropped: the bound holds


def test_nothing_is_remembered_that_was_not_put() -> None:
    cache = VerifiedCache[str, int](2)
    assert cache.get("never verified") is None
