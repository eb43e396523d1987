"""Rounds of racing clerks against a real gateway: one warrant id, one revocation, at once.

Each round sends RACERS registrations claiming one warrant id (half the very same signed
document, half other documents with that id) and then RACERS revocations of it, all at once.
Exactly one registration and one revocation may take effect, the identical retries get its
answer, and the ledger must hold exactly one entry of each. CI runs 5 rounds; ``--soak`` 300.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from typing import Any

import faults
import grpc
from federations import Federation

from alprfed.v1 import gateway_pb2

CI_ROUNDS, SOAK_ROUNDS = 5, 300
RACERS = 6


def outcome(call: Callable[[], Any]) -> Any:
    """The answer, or the status code it was refused with."""
    try:
        return call()
    except grpc.RpcError as exc:
        return exc.code()


def test_rounds_of_racing_registrations_and_revocations_take_effect_once(
    federation: Federation, soak: bool
) -> None:
    clerk = federation.stub(*federation.clerk_of("santa-clara-superior"))
    rounds = SOAK_ROUNDS if soak else CI_ROUNDS
    with ThreadPoolExecutor(RACERS) as pool:
        for n in range(rounds):
            warrant_id = f"w-round-{n}"
            same = federation.sign_warrant(warrant_id=warrant_id)
            others = [
                federation.sign_warrant(warrant_id=warrant_id, judge=f"Hon. J{i}")
                for i in range(RACERS // 2)
            ]
            documents = [same] * (RACERS - len(others)) + others
            registered = list(
                pool.map(lambda e: outcome(partial(federation.register, e)), documents)
            )
            revoke = gateway_pb2.RevokeWarrantRequest(warrant_id=warrant_id, reason="done")
            calls = [partial(clerk.RevokeWarrant, revoke, timeout=20)] * RACERS
            revoked = list(pool.map(outcome, calls))
            faults.add(races=2 * RACERS)
            winners = [r for r in registered if not isinstance(r, grpc.StatusCode)]
            logged = federation.logged("warrant_registered", "warrant_id", warrant_id)
            revocations = federation.logged("warrant_revoked", "warrant_id", warrant_id)
            extra = max(0, len(logged) - 1) + max(0, len(revocations) - 1)
            faults.add(duplicate_or_phantom=extra)
            assert len({w.ledger_index for w in winners}) == 1
            assert [e.index for e in logged] == [winners[0].ledger_index]
            assert all(r == grpc.StatusCode.ALREADY_EXISTS for r in registered if r not in winners)
            assert len(revocations) == 1
            assert all(
                not isinstance(r, grpc.StatusCode) or r == grpc.StatusCode.FAILED_PRECONDITION
                for r in revoked
            )
