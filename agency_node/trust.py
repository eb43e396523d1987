"""What a node trusts on its own, whoever runs the gateway: its trust file.

::

    witness_policy = "witness-policy.txt"   # C2SP tlog-policy: the ledger's key (its log line),
                                            # the witnesses this node trusts, their quorum
    allow_unwitnessed = false               # true accepts 'quorum none' (no witnesses at all)
    max_checkpoint_age_seconds = 300        # cosignatures older than this do not count
    exigent_lookback_hours = 72             # how far back an exigent query may reach
    auditors = ["ca-state-auditor"]         # organizations that may read the access log

    [[court]]                               # every court whose warrants this node honours
    id = "santa-clara-superior"
    name = "Superior Court of California, County of Santa Clara"
    key = "ed25519:..."                     # the court's warrant-signing key
    kind = "state"                          # "state" or "federal"
    states = ["CA"]                         # its state; a federal court's district state(s)

The agency's own operators write this file. The gateway's operator cannot change it, which is
the point: a stolen or misused gateway key gets no sighting out of this node without a court
this node trusts, a ledger entry the witnesses it trusts have seen, and a fresh one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from alprfed.config import CourtConfig, CourtKind, _Table, read_toml
from alprfed.errors import ConfigError
from alprfed.ledger.checkpoint import verifiers_origin
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.models import check_identifier, check_state

DEFAULT_MAX_CHECKPOINT_AGE_S = 300
DEFAULT_EXIGENT_LOOKBACK_HOURS = 72
TRUST_KEYS = {
    "witness_policy",
    "allow_unwitnessed",
    "max_checkpoint_age_seconds",
    "exigent_lookback_hours",
    "auditors",
    "court",
}
COURT_KEYS = {"id", "name", "key", "kind", "states"}


@dataclass(frozen=True)
class NodeTrust:
    policy: WitnessPolicy
    ledger_keys: tuple[NoteVerifier, ...]
    origin: str
    courts: Mapping[str, CourtConfig]
    max_checkpoint_age_s: int = DEFAULT_MAX_CHECKPOINT_AGE_S
    exigent_lookback_s: int = DEFAULT_EXIGENT_LOOKBACK_HOURS * 3600
    auditors: frozenset[str] = frozenset()


def load_node_trust(path: Path) -> NodeTrust:
    """Raises: ConfigError naming the file and key."""
    table = _Table(read_toml(path), str(path), path.parent, TRUST_KEYS)
    policy = WitnessPolicy.load(table.path("witness_policy"))
    if not policy.logs:
        raise ConfigError(
            f"{path}: the witness policy must name the ledger's key on a 'log <vkey>' line"
        )
    if not policy.requires_witnesses and not table.flag("allow_unwitnessed", False):
        # The ledger key alone is held by the gateway's operator, who could then sign a
        # private history with a decision no one else ever sees.
        raise ConfigError(
            f"{path}: the witness policy asks no witness ('quorum none'), so the gateway's "
            "operator alone could log a decision; name witnesses and a quorum, or set "
            "allow_unwitnessed = true for a federation without witnesses"
        )
    try:
        origin = verifiers_origin(policy.logs)
    except Exception as exc:
        raise ConfigError(f"{path}: witness policy logs: {exc}") from None
    courts: dict[str, CourtConfig] = {}
    for i, raw in enumerate(table.items("court")):
        court = _Table(raw, f"{path} court #{i + 1}", path.parent, COURT_KEYS)
        try:
            court_id = check_identifier(court.text("id"), field_name="id")
            states = frozenset(check_state(s) for s in court.items("states"))
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(f"{court.where}: {exc}") from None
        try:
            kind = CourtKind(court.text("kind"))
        except ValueError:
            raise ConfigError(
                f"{court.where}: kind must be one of {', '.join(k.value for k in CourtKind)}"
            ) from None
        if court_id in courts:
            raise ConfigError(f"{path}: court {court_id!r} is listed twice")
        courts[court_id] = CourtConfig(court_id, court.text("name"), court.key("key"), states, kind)
    age = table.integer("max_checkpoint_age_seconds", DEFAULT_MAX_CHECKPOINT_AGE_S)
    lookback = table.integer("exigent_lookback_hours", DEFAULT_EXIGENT_LOOKBACK_HOURS)
    if age <= 0 or lookback <= 0:
        raise ConfigError(f"{path}: ages and look-backs must be positive")
    auditors = frozenset(str(a) for a in table.items("auditors"))
    return NodeTrust(
        policy=policy,
        ledger_keys=policy.logs,
        origin=origin,
        courts=courts,
        max_checkpoint_age_s=age,
        exigent_lookback_s=lookback * 3600,
        auditors=auditors,
    )
