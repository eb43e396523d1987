"""Gate 1 decisions over the shipped policies/: each role may do exactly its actions, in its own
organization only, and everything else is refused with a reason."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.errors import PermissionDenied
from alprfed.policy.access import AccessPolicy

# The permissions of the brief, written out independently of policy.csv.
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "officer": {("query", "create"), ("warrant", "read")},
    "supervisor": {("query", "create"), ("exigent", "approve"), ("warrant", "read")},
    "court_clerk": {
        ("exigent", "review"),
        ("warrant", "register"),
        ("warrant", "revoke"),
        ("warrant", "read"),
        ("ledger", "read"),
    },
    "auditor": {("warrant", "read"), ("ledger", "read"), ("ledger", "open_commitment")},
    "admin": {("ledger", "read"), ("policy", "reload")},
}
EVERY_PERMISSION = sorted(set().union(*EXPECTED.values()))
# One demo person per role (the ids other parts of alprfed use).
HOLDER = {
    "officer": ("sjpd", "officer-garcia"),
    "supervisor": ("sjpd", "sgt-nguyen"),
    "court_clerk": ("santa-clara-superior", "clerk-lee"),
    "auditor": ("ca-state-auditor", "auditor-patel"),
    "admin": ("federation", "admin-ortiz"),
}
DEMO_PEOPLE = {
    ("sjpd", "officer-garcia"): "officer",
    ("sjpd", "sgt-nguyen"): "supervisor",
    ("chicago-pd", "officer-walsh"): "officer",
    ("norfolk-pd", "officer-brooks"): "officer",
    ("seattle-pd", "officer-kim"): "officer",
    ("minneapolis-pd", "officer-olson"): "officer",
    ("ice-ero", "agent-reyes"): "officer",
    ("johnson-county-so", "deputy-hale"): "officer",
    ("santa-clara-superior", "clerk-lee"): "court_clerk",
    ("ca-state-auditor", "auditor-patel"): "auditor",
    ("federation", "admin-ortiz"): "admin",
}


@pytest.fixture(scope="module")
def policy() -> AccessPolicy:
    return AccessPolicy.load(bundled_policies_dir())


@pytest.mark.parametrize("role", sorted(EXPECTED))
@pytest.mark.parametrize(("obj", "act"), EVERY_PERMISSION)
def test_each_role_may_do_exactly_its_actions(
    policy: AccessPolicy, role: str, obj: str, act: str
) -> None:
    organization, principal = HOLDER[role]
    allowed = policy.allows(f"{organization}/{principal}", organization, obj, act)
    assert allowed == ((obj, act) in EXPECTED[role])


@pytest.mark.parametrize(("person", "role"), sorted(DEMO_PEOPLE.items()))
def test_demo_people_hold_their_role_in_their_own_organization(
    policy: AccessPolicy, person: tuple[str, str], role: str
) -> None:
    organization, principal = person
    assert policy.roles(f"{organization}/{principal}", organization) == [role]


def test_refusal_names_the_person_the_missing_permission_and_the_gate(
    policy: AccessPolicy,
) -> None:
    with pytest.raises(PermissionDenied) as denied:
        policy.check("sjpd/officer-garcia", "sjpd", "exigent", "approve")
    [reason] = denied.value.reasons
    assert reason.gate == "casbin"
    assert reason.rule_id == "casbin.exigent.approve"
    assert reason.message == "officer-garcia of sjpd has no role that may approve exigent"
    assert reason.source == "policy"


def test_permitted_check_returns_quietly(policy: AccessPolicy) -> None:
    policy.check("sjpd/officer-garcia", "sjpd", "query", "create")


def test_officer_cannot_act_in_another_organizations_domain(policy: AccessPolicy) -> None:
    assert policy.roles("sjpd/officer-garcia", "chicago-pd") == []
    with pytest.raises(PermissionDenied) as denied:
        policy.check("sjpd/officer-garcia", "chicago-pd", "query", "create")
    [reason] = denied.value.reasons
    assert (
        reason.message == "officer-garcia of sjpd has no role in chicago-pd that may create query"
    )


def test_person_unknown_to_the_policy_is_refused(policy: AccessPolicy) -> None:
    assert not policy.allows("sjpd/officer-new", "sjpd", "query", "create")
    assert policy.roles("sjpd/officer-new", "sjpd") == []


@pytest.mark.parametrize(
    "subject",
    [
        "officer",  # a bare role name: casbin says every name holds itself
        "supervisor",
        "sjpd",
        "/officer-garcia",
        "sjpd/",
        "sjpd/officer-garcia/extra",
        "SJPD/officer-garcia",
        "",
    ],
)
def test_malformed_subject_is_refused(policy: AccessPolicy, subject: str) -> None:
    assert not policy.allows(subject, "sjpd", "query", "create")
    with pytest.raises(PermissionDenied):
        policy.check(subject, "sjpd", "query", "create")


@pytest.mark.parametrize(
    ("obj", "act"), [("query", ""), ("", "create"), ("query", "delete"), ("queries", "create")]
)
def test_unlisted_object_or_action_is_refused(policy: AccessPolicy, obj: str, act: str) -> None:
    assert not policy.allows("sjpd/sgt-nguyen", "sjpd", obj, act)


def test_repeated_decisions_agree_with_the_first(policy: AccessPolicy) -> None:
    requests = [
        ("sjpd/sgt-nguyen", "sjpd", "exigent", "approve"),
        ("sjpd/officer-garcia", "sjpd", "exigent", "approve"),
    ]
    first = [policy.allows(*r) for r in requests]
    assert first == [True, False]
    assert [policy.allows(*r) for r in requests * 3] == first * 3


def test_concurrent_decisions_during_reloads_stay_correct(tmp_path: Path) -> None:
    directory = tmp_path / "policies"
    directory.mkdir()
    for name in ("model.conf", "policy.csv"):
        (directory / name).write_bytes((bundled_policies_dir() / name).read_bytes())
    policy = AccessPolicy.load(directory)
    errors: list[BaseException] = []
    wrong: list[tuple[str, ...]] = []
    requests = [
        ("sjpd/officer-garcia", "sjpd", "query", "create", True),
        ("sjpd/officer-garcia", "sjpd", "exigent", "approve", False),
        ("santa-clara-superior/clerk-lee", "santa-clara-superior", "warrant", "register", True),
        ("sjpd/officer-garcia", "chicago-pd", "query", "create", False),
    ]

    def decide() -> None:
        try:
            for _ in range(200):
                for subject, domain, obj, act, expected in requests:
                    if policy.allows(subject, domain, obj, act) != expected:
                        wrong.append((subject, domain, obj, act))
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=decide) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        policy.reload()
    for thread in threads:
        thread.join()
    assert errors == []
    assert wrong == []
