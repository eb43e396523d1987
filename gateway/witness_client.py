"""One add-checkpoint request to one witness (C2SP tlog-witness), and what its answer means.

The gateway's side of the protocol, without the scheduling (gateway/witnessing.py): the body
is the ``old`` line, the consistency proof and the checkpoint note; a 200 answer holds the
witness's cosignature lines, of which the one by its policy key must verify; a 409 says the
witness's real latest size.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence

import aiohttp

from alprfed.ledger.cosignature import verify_cosignature_line
from alprfed.ledger.note import NoteError
from alprfed.ledger.witness_policy import PolicyWitness

MAX_RESPONSE_BYTES = 64 * 1024
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessFailure(Exception):
    """One submission to one witness failed; ``str`` says how (for the gateway's log)."""


class WitnessConflict(WitnessFailure):
    """409: the witness's latest size is not the ``old`` size we sent."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the witness is at size {size}")
        self.size = size


async def submit_checkpoint(
    session: aiohttp.ClientSession,
    url: str,
    *,
    old_size: int,
    proof: Sequence[bytes],
    note: str,
    timeout_s: float,
) -> str:
    """POST one add-checkpoint request; return the witness's signature lines.

    Raises:
        WitnessConflict: 409, with the witness's size.
        WitnessFailure: any other answer, a malformed one, a timeout or a network failure.
    """
    body = f"old {old_size}\n" + "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
    body += "\n" + note
    try:
        async with session.post(
            url.rstrip("/") + "/add-checkpoint",
            data=body.encode("utf-8"),
            timeout=aiohttp.ClientTimeout(total=timeout_s),
        ) as response:
            text = (await response.content.read(MAX_RESPONSE_BYTES)).decode("utf-8", "replace")
            if response.status == 409:
                size = text.strip()
                if response.content_type != SIZE_CONTENT_TYPE or not size.isdigit():
                    raise WitnessFailure("409 without a size")
                raise WitnessConflict(int(size))
            if response.status != 200:
                raise WitnessFailure(f"HTTP {response.status}: {text.strip()[:200]}")
            return text
    except TimeoutError:
        raise WitnessFailure(f"no answer within {timeout_s:g} s") from None
    except aiohttp.ClientError as exc:
        raise WitnessFailure(f"{type(exc).__name__}: {exc}") from None


def verified_line(checkpoint_text: str, answer: str, witness: PolicyWitness) -> str:
    """The one line of a witness's answer that is its valid cosignature of the checkpoint:
    lines of other keys (even under its name) are ignored, as the signed-note rules say.

    Raises:
        WitnessFailure: no line of the answer is a valid cosignature by its key.
    """
    for line in answer.splitlines():
        if not line.strip():
            continue
        try:
            verify_cosignature_line(checkpoint_text, line, witness.verifier)
        except NoteError:
            continue
        return line + "\n"
    raise WitnessFailure("its answer holds no valid cosignature by its key")
