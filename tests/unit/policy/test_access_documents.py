"""Gate 1 documents: what loads, what is refused, reloads, and replaying a published bundle."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from casbin.model import FunctionMap, Model

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.policy.access import AccessPolicy

GARCIA = ("sjpd/officer-garcia", "sjpd")
ALL_REQUESTS = [
    (f"{org}/{who}", domain, obj, act)
    for org, who in [
        ("sjpd", "officer-garcia"),
        ("sjpd", "sgt-nguyen"),
        ("santa-clara-superior", "clerk-lee"),
        ("ca-state-auditor", "auditor-patel"),
        ("federation", "admin-ortiz"),
        ("chicago-pd", "officer-walsh"),
    ]
    for domain in (org, "sjpd")
    for obj, act in [
        ("query", "create"),
        ("exigent", "approve"),
        ("exigent", "review"),
        ("warrant", "register"),
        ("warrant", "revoke"),
        ("warrant", "read"),
        ("ledger", "read"),
        ("ledger", "open_commitment"),
        ("policy", "reload"),
    ]
]


def _shipped() -> dict[str, bytes]:
    directory = bundled_policies_dir()
    return {name: (directory / name).read_bytes() for name in ("model.conf", "policy.csv")}


def _with(**changes: bytes) -> dict[str, bytes]:
    documents = _shipped()
    documents.update({name.replace("_", "."): value for name, value in changes.items()})
    return documents


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A private copy of policies/ that a test may edit."""
    directory = tmp_path / "policies"
    directory.mkdir()
    for name, content in _shipped().items():
        (directory / name).write_bytes(content)
    return directory


def test_shipped_matcher_uses_only_builtin_functions() -> None:
    model = Model()
    model.load_model_from_text(_shipped()["model.conf"].decode())
    matcher = model.model["m"]["m"].value
    assert "eval(" not in matcher
    called = set(re.findall(r"([A-Za-z_]\w*)\s*\(", matcher))
    builtins = set(FunctionMap.load_function_map().get_functions())
    assert called <= builtins | set(model.model["g"])
    # The cheap equality tests come before the role lookup.
    assert matcher.index("r_obj == p_obj") < matcher.index("g(")
    assert matcher.index("r_act == p_act") < matcher.index("g(")


def test_from_documents_decides_as_load_does(policies: Path) -> None:
    loaded = AccessPolicy.load(policies)
    replayed = AccessPolicy.from_documents(loaded.documents())
    assert [replayed.allows(*r) for r in ALL_REQUESTS] == [loaded.allows(*r) for r in ALL_REQUESTS]
    assert any(loaded.allows(*r) for r in ALL_REQUESTS)
    assert not all(loaded.allows(*r) for r in ALL_REQUESTS)


def test_documents_are_the_exact_bytes_in_force(policies: Path) -> None:
    assert AccessPolicy.load(policies).documents() == _shipped()


def test_from_documents_ignores_the_rest_of_a_bundle() -> None:
    bundle = {**_shipped(), "states/CA.toml": b"[pack]\n"}
    assert AccessPolicy.from_documents(bundle).documents() == _shipped()


@pytest.mark.parametrize("policy_csv", [b"", b"# nothing but a comment\n\n"])
def test_empty_policy_denies_everything(policy_csv: bytes) -> None:
    policy = AccessPolicy.from_documents(_with(policy_csv=policy_csv))
    assert not any(policy.allows(*r) for r in ALL_REQUESTS)
    assert policy.roles(*GARCIA) == []


def test_role_without_permissions_denies() -> None:
    policy = AccessPolicy.from_documents(
        _with(policy_csv=b"p, officer, query, create\ng, sjpd/officer-garcia, superuser, sjpd\n")
    )
    assert policy.roles(*GARCIA) == ["superuser"]
    assert not any(policy.allows(*r) for r in ALL_REQUESTS)


def test_reload_drops_cached_decisions(policies: Path) -> None:
    policy = AccessPolicy.load(policies)
    assert policy.allows(*GARCIA, "query", "create")
    assert not policy.allows(*GARCIA, "exigent", "approve")
    text = (policies / "policy.csv").read_text()
    promoted = text.replace(
        "g, sjpd/officer-garcia, officer, sjpd", "g, sjpd/officer-garcia, supervisor, sjpd"
    )
    assert promoted != text
    (policies / "policy.csv").write_text(promoted)
    # Until the reload, the policy in force (and its cache) is the one that was loaded.
    assert not policy.allows(*GARCIA, "exigent", "approve")

    policy.reload()

    assert policy.allows(*GARCIA, "exigent", "approve")
    assert policy.roles(*GARCIA) == ["supervisor"]
    assert policy.documents()["policy.csv"] == promoted.encode()


def test_reload_revokes_a_cached_permission(policies: Path) -> None:
    policy = AccessPolicy.load(policies)
    assert policy.allows(*GARCIA, "query", "create")
    text = (policies / "policy.csv").read_text()
    (policies / "policy.csv").write_text(text.replace("g, sjpd/officer-garcia, officer, sjpd", ""))
    policy.reload()
    assert not policy.allows(*GARCIA, "query", "create")


def test_failed_reload_keeps_the_policy_in_force(policies: Path) -> None:
    policy = AccessPolicy.load(policies)
    before = policy.documents()
    (policies / "policy.csv").write_text("p, officer, query\n")
    with pytest.raises(ConfigError, match="line 1"):
        policy.reload()
    assert policy.documents() == before
    assert policy.allows(*GARCIA, "query", "create")


def test_policy_from_documents_has_nothing_to_reload() -> None:
    with pytest.raises(ConfigError, match="documents"):
        AccessPolicy.from_documents(_shipped()).reload()


def test_missing_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=re.escape("model.conf")):
        AccessPolicy.load(tmp_path / "nowhere")


def test_missing_policy_file_is_a_config_error(policies: Path) -> None:
    (policies / "policy.csv").unlink()
    with pytest.raises(ConfigError, match=re.escape("policy.csv")):
        AccessPolicy.load(policies)


@pytest.mark.parametrize("missing", ["model.conf", "policy.csv"])
def test_bundle_without_a_document_is_refused(missing: str) -> None:
    documents = _shipped()
    del documents[missing]
    with pytest.raises(ConfigError, match=re.escape(missing)):
        AccessPolicy.from_documents(documents)


@pytest.mark.parametrize(
    ("policy_csv", "complaint"),
    [
        (b"x, officer, query, create\n", "rule type"),
        (b"p, officer, query\n", "3 fields"),
        (b"p, officer, query, create, allow\n", "3 fields"),
        (b"g, sjpd/officer-garcia, officer\n", "3 fields"),
        (b"g, officer-garcia, officer, sjpd\n", "<organization>/<principal>"),
        (b"g, sjpd/officer-garcia, officer, chicago-pd\n", "own organization"),
        (b"p, sjpd/officer-garcia, query, create\n", "not a valid name"),
        (b"p, Officer, query, create\n", "not a valid name"),
        (b"p, officer, query, create\np, officer, , read\n", "line 2"),
        (b"\xff\xfe", "UTF-8"),
    ],
)
def test_malformed_policy_is_refused(policy_csv: bytes, complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        AccessPolicy.from_documents(_with(policy_csv=policy_csv))


def _model(**section_lines: str) -> bytes:
    lines = {
        "request_definition": "r = sub, dom, obj, act",
        "policy_definition": "p = sub, obj, act",
        "role_definition": "g = _, _, _",
        "policy_effect": "e = some(where (p.eft == allow))",
        "matchers": "m = r.obj == p.obj && r.act == p.act && g(r.sub, p.sub, r.dom)",
    }
    lines.update(section_lines)
    return "".join(f"[{section}]\n{line}\n\n" for section, line in lines.items()).encode()


def test_the_model_written_out_in_full_loads() -> None:
    AccessPolicy.from_documents(_with(model_conf=_model()))


@pytest.mark.parametrize(
    ("model_conf", "complaint"),
    [
        (_model(matchers="m = eval(p.sub_rule) && g(r.sub, p.sub, r.dom)"), "eval()"),
        (
            _model(matchers="m = agencyMatch(r.dom, p.sub) && g(r.sub, p.sub, r.dom)"),
            "agencyMatch",
        ),
        (_model(matchers="m = r.obj == == p.obj && g(r.sub, p.sub, r.dom)"), "cannot be evaluated"),
        (_model(matchers="m = r.obj == p.obj && r.act == p.act"), "g(r.sub, p.sub, r.dom)"),
        (
            _model(matchers="m = r.obj == p.obj && r.act == p.act || g(r.sub, p.sub, r.dom)"),
            "conjunction",
        ),
        (_model(matchers="m = r.obj == p.obj && !g(r.sub, p.sub, r.dom)"), "conjunction"),
        (_model(policy_effect="e = !some(where (p.eft == deny))"), "effect"),
        (_model(request_definition="r = sub, obj, act"), "request"),
        (_model(policy_definition="p = sub, dom, obj, act"), "policy must be"),
        (_model(role_definition="g = _, _"), "role definition"),
        (b"", "missing"),
        (b"garbage\n", "model.conf"),
    ],
)
def test_unacceptable_model_is_refused(model_conf: bytes, complaint: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(complaint)):
        AccessPolicy.from_documents(_with(model_conf=model_conf))


def test_model_with_builtin_function_is_accepted() -> None:
    matcher = "m = keyMatch(r.obj, p.obj) && r.act == p.act && g(r.sub, p.sub, r.dom)"
    policy = AccessPolicy.from_documents(_with(model_conf=_model(matchers=matcher)))
    assert policy.allows(*GARCIA, "query", "create")


def test_matcher_with_an_inequality_is_accepted() -> None:
    matcher = "m = r.obj == p.obj && r.act == p.act && r.dom != p.sub && g(r.sub, p.sub, r.dom)"
    policy = AccessPolicy.from_documents(_with(model_conf=_model(matchers=matcher)))
    assert policy.allows(*GARCIA, "query", "create")
