"""What a ledger entry may hold, whichever decoder proves it: the closed set of kinds, the size
limits, and no plate in clear.

The exact decoder and the encoder (alprfed.ledger.entry) and the fast proof
(alprfed.ledger.entry_fast) enforce the same rules, so the rules live here, below both:
``entry``'s verifier check (``entry_fault``) takes the fast proof first and the exact path
after it, and ``entry_fast`` never needs ``entry``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from alprfed.errors import InvalidRequest

# C2SP tlog-tiles entry bundles prefix each entry with a big-endian uint16 length, so no entry
# may exceed 65,535 bytes. A query outcome to alprfed.query.MAX_TARGETS (64) agencies, with
# their receipts, always fits (a query may address no more); the policy
# (51 law packs, ~110 KB) is split: one policy_document entry per file, and a policy_bundle
# entry naming their hashes.
MAX_ENTRY_BYTES = 65_535
MAX_PLATES_PER_ENTRY = 64
# Keys that would put a plate into the ledger in clear; refused anywhere in a body.
FORBIDDEN_BODY_KEYS = frozenset({"plate", "plates"})
# A key "plate" or "plates" in any ASCII letter case, as canonical bytes spell a key.
_PLATE_KEY = re.compile(rb'"plates?":', re.IGNORECASE)


class EntryKind(StrEnum):
    """What an entry records. A closed set: any other kind is refused."""

    QUERY_DECISION = "query_decision"  # the gates' decision, written before fan-out
    QUERY_OUTCOME = "query_outcome"  # per-agency outcomes and node receipts
    QUERY_REJECTED = "query_rejected"  # a malformed or unauthorized query, still recorded
    WARRANT_REGISTERED = "warrant_registered"
    WARRANT_REVOKED = "warrant_revoked"
    POLICY_DOCUMENT = "policy_document"  # one policy file's text, named by a policy_bundle
    POLICY_BUNDLE = "policy_bundle"  # the Casbin policy and law packs in force from here on
    EXIGENT_APPROVED = "exigent_approved"
    EXIGENT_REVIEWED = "exigent_reviewed"
    RETENTION_PURGE = "retention_purge"  # a node's signed purge report
    KEY_ROTATION = "key_rotation"
    COMMITMENT_OPENED = "commitment_opened"  # an auditor opened an entry's plate commitments


def refuse_plate_keys(value: Any, path: str) -> None:
    """Raises: InvalidRequest naming the first key ``plate`` or ``plates`` (any case) anywhere
    in ``value``, by its path from ``path``."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and key.lower() in FORBIDDEN_BODY_KEYS:
                raise InvalidRequest(
                    f"{path}.{key}: plates never enter the ledger in clear; pass them as plates "
                    "so the ledger stores salted commitments",
                    field="body",
                )
            refuse_plate_keys(item, f"{path}.{key}")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            refuse_plate_keys(item, f"{path}[{position}]")


def body_has_plate_keys(body: Mapping[str, Any]) -> bool:
    """Whether a key ``plate`` or ``plates`` (any case) is anywhere in ``body``."""
    try:
        refuse_plate_keys(body, "body")
    except InvalidRequest:
        return True
    return False


def may_hold_plate_keys(data: bytes) -> bool:
    """False only when no object key can be "plate" or "plates" in any case: such a key is
    spelled exactly ``"plate":`` or ``"plates":`` in canonical bytes, up to ASCII case. A cheap
    pre-check that spares verification the walk over every body (one regex search, without
    the lower-cased copy of the bytes)."""
    return _PLATE_KEY.search(data) is not None
