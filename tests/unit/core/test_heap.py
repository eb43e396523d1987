"""A serving process freezes its start-up heap: full collections skip it, later garbage goes."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from alprfed.heap import freeze_startup_heap


class _Node:
    """Something a cycle can be made of, and a weak reference can watch."""

    def __init__(self) -> None:
        self.other: object = None


@pytest.fixture(autouse=True)
def _unfrozen_afterwards() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the test session collects as usual


def test_startup_objects_leave_the_collected_generations() -> None:
    loaded_at_startup = [_Node() for _ in range(3)]
    frozen = freeze_startup_heap()
    assert frozen >= len(loaded_at_startup)
    assert frozen == gc.get_freeze_count()
    walked = {id(o) for o in gc.get_objects()}
    assert not any(id(node) in walked for node in loaded_at_startup)


def test_startup_garbage_is_collected_before_the_freeze() -> None:
    a, b = _Node(), _Node()
    a.other, b.other = b, a  # a cycle only the collector can free
    watcher = weakref.ref(a)
    del a, b
    freeze_startup_heap()
    assert watcher() is None


def test_what_is_allocated_afterwards_is_still_collected() -> None:
    freeze_startup_heap()
    assert gc.isenabled()  # frozen, not switched off: a serving process's garbage still goes
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    watcher = weakref.ref(a)
    del a, b
    gc.collect(0)  # the youngest generation's pass, the one that runs most often
    assert watcher() is None
