"""The exception tree drawn in alprfed.errors stays complete and true to the classes."""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import agency_node
import alprfed
import alprfed.errors
import gateway
from alprfed.errors import AlprfedError, LedgerVerificationError, Status, VerificationError

PACKAGES = (alprfed, agency_node, gateway)
# Generated protobuf code defines no errors; __main__ modules run the CLI when imported.
SKIPPED = ("alprfed.v1", "alprfed.__main__")


def _import_everything() -> None:
    # Every module, not a hand-kept list: an error class in a new module must be drawn too.
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.name.startswith(SKIPPED) and not info.name.endswith(".__main__"):
                importlib.import_module(info.name)


def _subclasses(cls: type[AlprfedError]) -> list[type[AlprfedError]]:
    found: list[type[AlprfedError]] = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def _ours(cls: type) -> bool:
    # Other packages (witness/, test helpers) may subclass AlprfedError once imported by some
    # other test in the same run; the drawing covers alprfed, agency_node and gateway.
    return cls.__module__.split(".")[0] in {p.__name__ for p in PACKAGES}


def _drawing() -> dict[str, tuple[str, str]]:
    """Each class in the docstring's drawing: the class it is drawn under, and its line."""
    doc = alprfed.errors.__doc__ or ""
    drawn: dict[str, tuple[str, str]] = {}
    stack: list[tuple[int, str]] = []
    for line in doc.splitlines():
        match = re.match(r"^\s{4}([│ ]*(?:├── |└── )?)([A-Z]\w+)\b", line)
        if match is None:
            continue
        depth = len(match.group(1))
        while stack and stack[-1][0] >= depth:
            stack.pop()
        drawn[match.group(2)] = (stack[-1][1] if stack else "", line)
        stack.append((depth, match.group(2)))
    return drawn


def test_every_error_class_is_drawn_under_its_real_parent() -> None:
    _import_everything()
    classes = [cls for cls in _subclasses(AlprfedError) if _ours(cls)]
    assert len(classes) > 20  # the walk did find the tree
    drawn = {name: parent for name, (parent, _) in _drawing().items()}
    missing = sorted(cls.__name__ for cls in classes if cls.__name__ not in drawn)
    assert not missing, f"add these to the tree in alprfed/errors.py: {missing}"
    wrong = {
        cls.__name__: (drawn[cls.__name__], cls.__bases__[0].__name__)
        for cls in classes
        if drawn[cls.__name__] != cls.__bases__[0].__name__
    }
    assert not wrong, f"drawn under the wrong parent (drawn, real): {wrong}"
    stale = sorted(set(drawn) - {c.__name__ for c in classes} - {"AlprfedError"})
    assert not stale, f"the tree draws classes that do not exist: {stale}"


def test_drawn_statuses_are_the_real_ones() -> None:
    # A status is drawn where it differs from the parent's; an undrawn one is the parent's.
    _import_everything()
    drawing = _drawing()
    classes: list[type[AlprfedError]] = [AlprfedError]
    classes += [c for c in _subclasses(AlprfedError) if _ours(c)]
    for cls in classes:
        if cls.__name__ not in drawing:
            continue  # the test above names it
        line = drawing[cls.__name__][1]
        drawn = [s for s in Status if re.search(rf"\b{s.value}\b", line)]
        if drawn:
            assert drawn == [cls.status], f"{cls.__name__} is drawn {drawn}, is {cls.status}"
        else:
            parent: type[AlprfedError] = cls.__bases__[0]  # AlprfedError's own is always drawn
            parent_status = parent.status
            assert cls.status == parent_status, f"draw {cls.__name__}'s status {cls.status}"


def test_note_errors_are_ledger_verification_errors() -> None:
    from alprfed.ledger.checkpoint import CheckpointError
    from alprfed.ledger.cosignature import CosignatureError
    from alprfed.ledger.note import NoteError

    for cls in (NoteError, CheckpointError, CosignatureError):
        error = cls("the signature by log.example does not verify")
        assert isinstance(error, LedgerVerificationError)
        assert not isinstance(error, VerificationError)
        assert error.status is Status.INTERNAL
        # Callers wrap note errors by their detail; it is the message, with no index.
        assert error.detail == str(error) == "the signature by log.example does not verify"
        assert error.index is None


@pytest.mark.parametrize("index", [None, 7])
def test_ledger_verification_error_detail_omits_the_index(index: int | None) -> None:
    error = LedgerVerificationError("bad prev", index=index)
    assert error.detail == "bad prev"
    assert str(error) == ("bad prev" if index is None else "entry 7: bad prev")
