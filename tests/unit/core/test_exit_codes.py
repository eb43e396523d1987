"""A query's exit status from its answer, and each error's: the table docs/OPERATIONS.md
documents."""

from __future__ import annotations

import grpc
import pytest

from alprfed.cli.exit_codes import ExitCode, for_answer, for_error
from alprfed.errors import ConfigError, LedgerVerificationError, PermissionDenied, Unavailable
from alprfed.messages import Outcome
from alprfed.query import AgencyOutcome, QueryAnswer


def answer(*outcomes: Outcome, complete: bool = True) -> QueryAnswer:
    return QueryAnswer(
        query_id="q",
        complete=complete,
        outcomes=tuple(AgencyOutcome(f"a{i}", f"A{i}", "CA", o) for i, o in enumerate(outcomes)),
        ledger_index=1,
        ledger_proof="",
    )


@pytest.mark.parametrize(
    ("outcomes", "complete", "expected"),
    [
        ((Outcome.RESULTS, Outcome.DENIED), True, ExitCode.OK),
        ((Outcome.DENIED, Outcome.DENIED), True, ExitCode.REFUSED_EVERYWHERE),
        ((Outcome.RESULTS, Outcome.UNAVAILABLE), False, ExitCode.PARTIAL),
        ((Outcome.DENIED, Outcome.TIMED_OUT), False, ExitCode.PARTIAL),
    ],
)
def test_a_query_is_success_only_when_answered_whole(
    outcomes: tuple[Outcome, ...], complete: bool, expected: ExitCode
) -> None:
    assert for_answer(answer(*outcomes, complete=complete)) == expected


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode) -> None:
        self._code = code

    def code(self) -> grpc.StatusCode:
        return self._code


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConfigError("x"), ExitCode.FAILED),
        (PermissionDenied("x"), ExitCode.FAILED),
        (Unavailable("x"), ExitCode.UNAVAILABLE),
        (LedgerVerificationError("x"), ExitCode.NOT_VERIFIED),
        (FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED), ExitCode.UNAVAILABLE),
        (FakeRpcError(grpc.StatusCode.PERMISSION_DENIED), ExitCode.FAILED),
    ],
)
def test_errors_map_to_one_status_each(error: BaseException, expected: ExitCode) -> None:
    assert for_error(error) == expected


def test_the_codes_are_distinct() -> None:
    assert len({int(c) for c in ExitCode}) == len(ExitCode)
