"""The federation agreement (policies/federation.toml): commitments beyond each state's law."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.law import LawBook, LawRequest, load_law_book
from alprfed.models import AgencyKind, Purpose

PROTECTED = [
    Purpose.IMMIGRATION_ENFORCEMENT,
    Purpose.REPRODUCTIVE_HEALTH_CARE_INVESTIGATION,
    Purpose.GENDER_AFFIRMING_CARE_INVESTIGATION,
    Purpose.PROTECTED_ACTIVITY_MONITORING,
]


@pytest.mark.parametrize("purpose", PROTECTED)
def test_a_state_without_a_shield_law_still_refuses_under_the_agreement(
    book: LawBook, full_book: LawBook, ask: Callable[..., LawRequest], purpose: Purpose
) -> None:
    # Minnesota data asked for by a Texas sheriff: Minnesota's ALPR statute alone allows it.
    request = ask(
        holder_state="MN", requester_state="TX", requester_kind=AgencyKind.LOCAL, purpose=purpose
    )
    assert book.decide(request).allowed
    decision = full_book.decide(request)
    assert not decision.allowed
    (reason,) = decision.reasons
    assert reason.rule_id == "federation-protected-purposes"
    assert reason.state == "federation"
    assert reason.source == "policy"
    assert "federation agreement" in reason.citation
    assert reason.explain().startswith("denied by federation — alprfed federation agreement")


def test_lawful_purposes_are_untouched_and_the_rule_is_listed_as_applied(
    full_book: LawBook, ask: Callable[..., LawRequest]
) -> None:
    decision = full_book.decide(ask(holder_state="MN", requester_state="TX"))
    assert decision.allowed
    assert "federation-protected-purposes" in decision.rules_applied


def test_the_agreement_is_a_published_policy_document(full_book: LawBook) -> None:
    assert "federation.toml" in full_book.documents()
    from alprfed.policy.bundle import read_policy_documents

    assert "federation.toml" in read_policy_documents(bundled_policies_dir())


def _policies_with_agreement(tmp_path: Path, agreement: str) -> Path:
    import shutil

    root = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), root)
    (root / "federation.toml").write_text(agreement)
    return root


def test_the_agreement_may_only_refuse(tmp_path: Path) -> None:
    text = (
        (bundled_policies_dir() / "federation.toml").read_text()
        + """
[[rule]]
id = "federation-retention"
kind = "retention"
binds = "holder"
seconds = 86400
citation = "agreement"
source = "policy"
urls = []
message = "One day."
"""
    )
    with pytest.raises(ConfigError, match="only refuses"):
        load_law_book(_policies_with_agreement(tmp_path, text))


def test_agreement_rules_must_be_policy_not_statute(tmp_path: Path) -> None:
    text = (
        (bundled_policies_dir() / "federation.toml")
        .read_text()
        .replace('source = "policy"', 'source = "statute"')
    )
    with pytest.raises(ConfigError, match="source"):
        load_law_book(_policies_with_agreement(tmp_path, text))


def test_without_an_agreement_file_only_state_law_applies(
    tmp_path: Path, ask: Callable[..., LawRequest]
) -> None:
    import shutil

    root = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), root)
    (root / "federation.toml").unlink()
    book = load_law_book(root)
    assert book.agreement is None
    assert book.decide(
        ask(holder_state="MN", requester_state="TX", purpose=Purpose.IMMIGRATION_ENFORCEMENT)
    ).allowed
