"""The policy in the ledger: one entry per document, a bundle entry naming their hashes, and an
audit replay that rebuilds exactly the law that was enforced, at the time it was enforced.

51 law packs do not fit in one ledger entry (MAX_ENTRY_BYTES); each document fits in its own.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import shutil
from pathlib import Path

from federations import (
    SUSPECT,
    append_forged,
    forge_allowed_and_replay,
    start_federation,
    stop_federation,
)

from alprfed import canonical
from alprfed.config import bundled_policies_dir
from alprfed.ledger import LedgerEntryView, iter_entries
from alprfed.ledger.reader import LedgerReader
from alprfed.policy.bundle import FEDERATION_DOCUMENT, PolicyBundle, read_policy_documents
from alprfed.policy.replay import audit_entries


def ledger(url: str) -> list[LedgerEntryView]:
    reader = LedgerReader.open_readonly(url)
    try:
        return list(iter_entries(reader))
    finally:
        reader.close()


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def texts_named_by(bundle_entry: LedgerEntryView, entries: list[LedgerEntryView]) -> dict[str, str]:
    by_index = {e.index: e for e in entries}
    texts = {}
    for path, indexes in bundle_entry.body["document_entries"].items():
        parts = [by_index[i] for i in indexes]
        for number, part in enumerate(parts):
            assert part.kind == "policy_document"
            assert part.index < bundle_entry.index  # published before the bundle names it
            assert (part.body["path"], part.body["part"], part.body["parts"]) == (
                path,
                number,
                len(parts),
            )
        texts[path] = "".join(p.body["text"] for p in parts)
    return texts


def test_each_document_is_published_once_and_the_bundle_is_rebuilt_exactly(
    tmp_path: Path,
) -> None:
    policies = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), policies)
    on_disk = read_policy_documents(policies)
    federation = start_federation(tmp_path / "fed", gateway_policies=policies)
    try:
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
        # Re-checked, with 90 KB of notes: more than one entry holds, so it goes in parts.
        utah = policies / "states" / "UT.toml"
        utah.write_text(utah.read_text() + "# re-checked: 'quoted' \\ notes\n" * 2_500)
        assert federation.gateway.reload_policy()
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    finally:
        stop_federation(federation)

    entries = ledger(federation.ledger_url)
    first, second = [e for e in entries if e.kind == "policy_bundle"]
    documents = [e for e in entries if e.kind == "policy_document"]
    # Every document and the federation once at start; after the reload only the changed
    # pack, in parts.
    assert len(documents) == len(on_disk) + 1 + len(
        second.body["document_entries"]["states/UT.toml"]
    )
    republished = [d for d in documents if first.index < d.index < second.index]
    assert {d.body["path"] for d in republished} == {"states/UT.toml"}
    assert len(republished) >= 2
    for document in documents:
        if document.body["parts"] == 1:
            assert document.body["sha256"] == sha256(document.body["text"])

    texts = texts_named_by(first, entries)
    federation_text = texts.pop(FEDERATION_DOCUMENT)
    assert texts == on_disk  # byte for byte what the gateway read and enforced
    assert (
        "sjpd"
        in PolicyBundle.logged_federation(
            first.body["bundle"], {FEDERATION_DOCUMENT: federation_text}
        ).agencies
    )
    texts[FEDERATION_DOCUMENT] = federation_text
    rebuilt = PolicyBundle.from_canonical(first.body["bundle"], texts)
    assert rebuilt.digest == first.body["bundle_sha256"]
    later = texts_named_by(second, entries)
    assert later["states/UT.toml"] == (policies / "states" / "UT.toml").read_text()
    assert (
        PolicyBundle.from_canonical(second.body["bundle"], later).digest
        == (second.body["bundle_sha256"])
    )
    unchanged = {p: i for p, i in second.body["document_entries"].items() if p != "states/UT.toml"}
    assert unchanged == {
        p: i for p, i in first.body["document_entries"].items() if p != "states/UT.toml"
    }
    decisions = [e for e in entries if e.kind == "query_decision"]
    assert [d.body["policy_bundle"] for d in decisions] == [
        first.body["bundle_sha256"],
        second.body["bundle_sha256"],
    ]
    assert audit_entries(entries).clean


def test_a_bundle_citing_an_unpublished_pack_is_caught(tmp_path: Path) -> None:
    """A lying gateway names a lenient California pack it never published, and logs a
    decision under it: the replay cannot rebuild that law and reports the decision."""
    federation = start_federation(tmp_path / "fed")
    try:
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    finally:
        stop_federation(federation)
    url = federation.ledger_url
    entries = ledger(url)
    (honest,) = [e for e in entries if e.kind == "policy_bundle"]
    forged_bundle = copy.deepcopy(honest.body["bundle"])
    forged_bundle["documents"]["states/CA.toml"] = sha256('state = "CA"\n# anything goes\n')
    digest = hashlib.sha256(canonical.encode(forged_bundle)).hexdigest()
    append_forged(
        federation,
        "policy_bundle",
        {
            "bundle_sha256": digest,
            "previous_sha256": honest.body["bundle_sha256"],
            "bundle": forged_bundle,
            "document_entries": honest.body["document_entries"],  # CA's points at the real one
        },
    )
    (decision,) = [e for e in entries if e.kind == "query_decision"]
    forged_decision = copy.deepcopy(dict(decision.body))
    forged_decision["policy_bundle"] = digest
    index = append_forged(federation, "query_decision", forged_decision, (SUSPECT,))

    report = audit_entries(ledger(url))
    assert [(d.index, d.agency) for d in report.disagreements] == [(index, "*")]
    assert "states/CA.toml" in report.disagreements[0].note
    assert "was not published" in report.disagreements[0].note


def test_the_replay_applies_the_law_in_force_at_the_logged_time(tmp_path: Path) -> None:
    """A California rule taking effect in two days: today's query is allowed, and replays
    clean; the same decision logged as made on the effective date is caught."""
    policies = tmp_path / "policies"
    shutil.copytree(bundled_policies_dir(), policies)
    effective = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=2)
    with (policies / "states" / "CA.toml").open("a") as pack:
        pack.write(
            '\n[[rule]]\nid = "CA-test-amber-only"\nkind = "permitted_purposes"\n'
            'binds = "requester"\npurposes = ["amber_alert"]\ncitation = "Test Act 1"\n'
            'source = "statute"\nurls = ["https://example.org/test-act"]\n'
            'message = "From the effective date, California agencies ask only for AMBER alerts."\n'
            f"effective = {effective.isoformat()}\n"
        )
    federation = start_federation(tmp_path / "fed", gateway_policies=policies)
    try:
        federation.query("sjpd", "officer-garcia", warrant_id=federation.warrant())
    finally:
        stop_federation(federation)
    entries = ledger(federation.ledger_url)
    (decision,) = [e for e in entries if e.kind == "query_decision"]
    assert any(d["allowed"] for d in decision.body["decisions"])  # not yet law: robbery is fine
    assert audit_entries(entries).clean

    moved = copy.deepcopy(dict(decision.body))
    start = int(dt.datetime.combine(effective, dt.time(), tzinfo=dt.UTC).timestamp())
    moved["decided_at"] = start + 60  # the first minute the rule is law
    allowed = [d["agency"] for d in moved["decisions"] if d["allowed"]]
    _, report = forge_allowed_and_replay(federation, moved, allowed[0])
    assert report.disagreements
    assert all("CA-test-amber-only" in d.replayed for d in report.disagreements)
