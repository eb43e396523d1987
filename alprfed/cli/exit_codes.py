"""The `alprfed` command's exit statuses: one meaning each, the same for every command.

Scripts branch on them, so they never change meaning (docs/OPERATIONS.md, "Exit codes").
"""

from __future__ import annotations

from enum import IntEnum

import grpc

from alprfed.errors import AlprfedError, LedgerVerificationError, Unavailable
from alprfed.messages import Outcome
from alprfed.query import QueryAnswer


class ExitCode(IntEnum):
    OK = 0  # done; a query answered completely
    FAILED = 1  # refused or failed: bad input or configuration, permission denied, not found
    USAGE = 2  # the command line itself is wrong (click's own status)
    REFUSED_EVERYWHERE = 3  # a query every agency in scope refused (each reason printed)
    PARTIAL = 4  # a query some agencies answered and others could not (unavailable, timed out)
    UNAVAILABLE = 5  # the gateway, a node or a database could not be reached; retry later
    NOT_VERIFIED = 6  # a ledger, receipt, proof or checkpoint does not verify: evidence of fault
    INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)


# gRPC statuses that say "try again", not "you may not".
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def for_error(error: BaseException) -> ExitCode:
    """The status for an error the command could not get past."""
    if isinstance(error, LedgerVerificationError):
        return ExitCode.NOT_VERIFIED
    if isinstance(error, Unavailable):
        return ExitCode.UNAVAILABLE
    if isinstance(error, grpc.RpcError):
        code = error.code() if hasattr(error, "code") else None
        return ExitCode.UNAVAILABLE if code in _RETRYABLE else ExitCode.FAILED
    if isinstance(error, AlprfedError):
        return ExitCode.FAILED
    return ExitCode.FAILED


def for_answer(answer: QueryAnswer) -> ExitCode:
    """A query's status: refused by all is not success, and neither is a partial answer."""
    if answer.outcomes and all(o.outcome == Outcome.DENIED for o in answer.outcomes):
        return ExitCode.REFUSED_EVERYWHERE
    if not answer.complete:
        return ExitCode.PARTIAL
    return ExitCode.OK
