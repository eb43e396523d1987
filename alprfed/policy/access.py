"""Gate 1: may this role do this at all? Casbin RBAC with domains over policies/model.conf.

The subject is ``<organization>/<principal>`` and the domain is ``<organization>``, both taken
by the gateway from the caller's verified certificate (alprfed.rpc.identity). A role is held
only inside one organization, so an officer of sjpd asking in the domain chicago-pd holds no
role there and is refused.

The documents are checked before anything is enforced, because pycasbin silently skips what it
does not understand (a policy line of an unknown type, a misspelt section) and would then
decide on less policy than the author wrote. Everything fails closed: an empty policy, an
unknown role or a malformed subject denies.

pycasbin 2.8 has no decision cache and its ``enforce`` is linear in the rules (200-800 µs per
call at 100 rules, against 0.15 µs for an LRU hit), so decisions are cached per policy
snapshot. Its role manager also records every name it is asked about, so calls into one
enforcer are serialized. A reload builds a new snapshot, with a new empty cache, and swaps it
in with one assignment: a decision is always made against one whole policy, old or new.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Mapping
from pathlib import Path

import casbin
from casbin.model import FunctionMap, Model
from casbin.persist import Adapter
from casbin.persist.adapter import load_policy_line

from alprfed.errors import ConfigError, PermissionDenied, Reason

log = logging.getLogger("alprfed.policy.access")

MODEL_FILE = "model.conf"
POLICY_FILE = "policy.csv"
DOCUMENTS = (MODEL_FILE, POLICY_FILE)
DECISION_CACHE_ENTRIES = 4096  # distinct (subject, domain, object, action) tuples remembered
GATE = "casbin"

# The shape check() relies on. Anything else (say a deny-override effect that allows by default)
# would change what an absent rule means, so it is refused at load time.
_REQUEST_TOKENS = ["r_sub", "r_dom", "r_obj", "r_act"]
_POLICY_TOKENS = ["p_sub", "p_obj", "p_act"]
_ROLE_FIELDS = 3  # g = user, role, domain
_ALLOW_OVERRIDE = "some(where (p_eft == allow))"
_ROLE_CHECK = "g(r_sub,p_sub,r_dom)"  # as pycasbin stores the matcher, spaces removed
_WEAKENING = re.compile(r"\|\||!(?!=)|\b(?:or|not)\b")  # "!=" is a comparison, not a negation
_FIELDS = {"p": len(_POLICY_TOKENS), "g": _ROLE_FIELDS}

_ID = r"[a-z0-9][a-z0-9_.-]{0,63}"
_NAME = re.compile(_ID)
# A subject always has a slash and a role never does. That matters: casbin's role manager says
# every name holds itself, so a caller whose subject equalled a role name would hold that role.
_SUBJECT = re.compile(rf"({_ID})/({_ID})")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")
_KEYWORDS = frozenset({"and", "or", "not", "in", "if", "else"})


def _text(documents: Mapping[str, bytes], name: str) -> str:
    if name not in documents:
        raise ConfigError(f"access policy bundle has no {name}")
    try:
        return documents[name].decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{name} is not UTF-8") from None


def _parse_model(text: str) -> Model:
    """Raises: ConfigError unless the model has exactly the shape check() relies on."""
    model = Model()
    try:
        model.load_model_from_text(text)
    except RuntimeError as exc:  # pycasbin's config parser reports syntax errors this way
        raise ConfigError(f"{MODEL_FILE}: {exc}") from None
    sections = model.model

    def value(sec: str, key: str) -> str:
        if sec not in sections or key not in sections[sec]:
            raise ConfigError(f"{MODEL_FILE}: missing {key} = ... in its section")
        return str(sections[sec][key].value)

    value("r", "r")
    value("p", "p")
    if sections["r"]["r"].tokens != _REQUEST_TOKENS:
        raise ConfigError(f"{MODEL_FILE}: the request must be r = sub, dom, obj, act")
    if sections["p"]["p"].tokens != _POLICY_TOKENS:
        raise ConfigError(f"{MODEL_FILE}: the policy must be p = sub, obj, act")
    if value("g", "g").replace(" ", "") != ",".join("_" * _ROLE_FIELDS):
        raise ConfigError(f"{MODEL_FILE}: the role definition must be g = _, _, _")
    if value("e", "e") != _ALLOW_OVERRIDE:
        raise ConfigError(f"{MODEL_FILE}: the effect must be some(where (p.eft == allow))")
    matcher = value("m", "m")
    check_matcher(matcher, roles=set(sections["g"]))
    # Every permission must pass through a role held in the caller's own domain; a matcher
    # without that test, or with an "or" around it or a "not" before it, would grant
    # permissions to people without the role.
    if _ROLE_CHECK not in matcher.replace(" ", "") or _WEAKENING.search(matcher):
        raise ConfigError(
            f"{MODEL_FILE}: the matcher must be a conjunction that includes "
            "g(r.sub, p.sub, r.dom), without || or !"
        )
    return model


def check_matcher(matcher: str, *, roles: set[str]) -> None:
    """Refuse a matcher that could run policy text as logic or needs our own code to evaluate.

    Raises:
        ConfigError: the matcher uses eval() or calls a function that is neither a role
            definition (g) nor one of Casbin's built-in functions.
    """
    allowed = set(FunctionMap.load_function_map().get_functions()) | roles
    # Operators written before a parenthesis ("not (", "and (") are not calls.
    called = set(_CALL.findall(matcher)) - _KEYWORDS
    if "eval" in called:
        raise ConfigError(f"{MODEL_FILE}: the matcher must not use eval()")
    unknown = sorted(called - allowed)
    if unknown:
        raise ConfigError(
            f"{MODEL_FILE}: the matcher calls {', '.join(unknown)}, which are not Casbin "
            "built-in functions (custom functions are not allowed)"
        )


def _parse_rules(text: str) -> list[list[str]]:
    """``[ptype, field, ...]`` per rule line. Raises: ConfigError naming the line."""
    rules: list[list[str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{POLICY_FILE} line {number}"
        rule = [token.strip() for token in line.split(",")]
        ptype, fields = rule[0], rule[1:]
        if ptype not in _FIELDS:
            raise ConfigError(f"{where}: rule type must be p or g, not {ptype!r}")
        if len(fields) != _FIELDS[ptype]:
            raise ConfigError(f"{where}: a {ptype} rule has {_FIELDS[ptype]} fields")
        names = fields
        if ptype == "g":
            user, names = fields[0], fields[1:]
            subject = _SUBJECT.fullmatch(user)
            if subject is None:
                raise ConfigError(f"{where}: {user!r} is not <organization>/<principal>")
            if subject.group(1) != fields[2]:
                raise ConfigError(
                    f"{where}: a role in {fields[2]!r} is assigned to a principal of "
                    f"{subject.group(1)!r}; roles are held only in one's own organization"
                )
        for name in names:
            if not _NAME.fullmatch(name):
                raise ConfigError(f"{where}: {name!r} is not a valid name")
        rules.append(rule)
    return rules


class _RulesAdapter(Adapter):  # type: ignore[misc]
    """Hands already checked rules to pycasbin, through its own line loader."""

    def __init__(self, rules: list[list[str]]) -> None:
        self._rules = rules

    def load_policy(self, model: Model) -> None:
        for rule in self._rules:
            load_policy_line(", ".join(rule), model)


class _Snapshot:
    """One loaded policy: its documents, its enforcer and the cache of its decisions."""

    def __init__(self, documents: Mapping[str, bytes]) -> None:
        model = _parse_model(_text(documents, MODEL_FILE))
        self.rules = _parse_rules(_text(documents, POLICY_FILE))
        self.documents = {name: bytes(documents[name]) for name in DOCUMENTS}
        self._lock = threading.Lock()
        self._enforcer = casbin.Enforcer(model, _RulesAdapter(self.rules))
        self.decide = functools.lru_cache(maxsize=DECISION_CACHE_ENTRIES)(self._enforce)
        try:
            # A matcher that parses as a model but not as an expression fails only here.
            self._enforce("probe/probe", "probe", "probe", "probe")
        except Exception as exc:  # pycasbin and simpleeval raise many types; all mean bad model
            raise ConfigError(f"{MODEL_FILE}: the matcher cannot be evaluated: {exc}") from None

    def _enforce(self, subject: str, domain: str, obj: str, act: str) -> bool:
        with self._lock:
            return bool(self._enforcer.enforce(subject, domain, obj, act))

    def roles(self, subject: str, domain: str) -> list[str]:
        with self._lock:
            return sorted(self._enforcer.get_roles_for_user_in_domain(subject, domain))


def _well_formed(subject: str, domain: str, obj: str, act: str) -> bool:
    return (
        all(isinstance(v, str) for v in (subject, domain, obj, act))
        and _SUBJECT.fullmatch(subject) is not None
        and _NAME.fullmatch(domain) is not None
        and bool(obj)
        and bool(act)
    )


def _explain(subject: str, domain: str, obj: str, act: str) -> str:
    organization, _, principal = subject.rpartition("/")
    who = f"{principal} of {organization}" if organization else repr(subject)
    where = "" if organization == domain else f" in {domain}"
    return f"{who} has no role{where} that may {act} {obj}"


class AccessPolicy:
    """The Casbin gate: ``check`` raises when no role of the caller permits the action."""

    def __init__(self, snapshot: _Snapshot, policies_dir: Path | None) -> None:
        """Use :meth:`load` or :meth:`from_documents`."""
        self._snapshot = snapshot
        self._policies_dir = policies_dir
        self._reload_lock = threading.Lock()

    @classmethod
    def load(cls, policies_dir: Path) -> AccessPolicy:
        """Read ``model.conf`` and ``policy.csv`` from ``policies_dir``.

        Raises:
            ConfigError: a file is missing, unreadable or not a policy this gate accepts.
        """
        return cls(_Snapshot(_read(policies_dir)), Path(policies_dir))

    @classmethod
    def from_documents(cls, documents: Mapping[str, bytes]) -> AccessPolicy:
        """Build from a published policy bundle, e.g. to replay decisions recorded in the ledger.

        Only ``model.conf`` and ``policy.csv`` are read; other documents of a bundle (state law
        packs) are ignored here.

        Raises:
            ConfigError: a document is missing or not a policy this gate accepts.
        """
        return cls(_Snapshot(documents), None)

    def check(self, subject: str, domain: str, obj: str, act: str) -> None:
        """Raises: PermissionDenied with a Reason naming the permission that was missing."""
        if self.allows(subject, domain, obj, act):
            return
        reason = Reason(
            gate=GATE,
            rule_id=f"{GATE}.{obj}.{act}",
            message=_explain(subject, domain, obj, act),
            source="policy",
        )
        raise PermissionDenied("the access policy does not permit this", [reason])

    def allows(self, subject: str, domain: str, obj: str, act: str) -> bool:
        """True when a role ``subject`` holds in ``domain`` may do ``act`` on ``obj``."""
        if not _well_formed(subject, domain, obj, act):
            return False
        return bool(self._snapshot.decide(subject, domain, obj, act))

    def roles(self, subject: str, domain: str) -> list[str]:
        """The roles ``subject`` holds in ``domain``, sorted (unknown roles included)."""
        if not _well_formed(subject, domain, "-", "-"):
            return []
        return self._snapshot.roles(subject, domain)

    def reload(self) -> None:
        """Re-read the files; on success the new policy and an empty cache replace the old.

        Raises:
            ConfigError: the files are now wrong (the policy in force stays as it was), or this
                policy was built from documents and has no files to re-read.
        """
        if self._policies_dir is None:
            raise ConfigError("this access policy was built from documents; it has no files")
        with self._reload_lock:
            snapshot = _Snapshot(_read(self._policies_dir))
            self._snapshot = snapshot  # one assignment: readers see the old or the new whole
        log.info(
            "access policy reloaded from %s: %d rules", self._policies_dir, len(snapshot.rules)
        )

    def documents(self) -> dict[str, bytes]:
        """The exact bytes in force: ``{"model.conf": ..., "policy.csv": ...}``."""
        return dict(self._snapshot.documents)


def _read(policies_dir: Path) -> dict[str, bytes]:
    documents: dict[str, bytes] = {}
    for name in DOCUMENTS:
        path = Path(policies_dir) / name
        try:
            documents[name] = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
    return documents
