"""A witnessed ledger: publication at quorum, and verifiers that hold it to a witness policy."""

from __future__ import annotations

import queue
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from alprfed.clock import FixedClock
from alprfed.errors import FailedPrecondition, LedgerVerificationError
from alprfed.ledger import LedgerStore, PendingEntry, verify_ledger, verify_tlog_proof
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.cosignature import CosignatureSigner
from alprfed.ledger.note import NoteVerifier, parse_note
from alprfed.ledger.tlog_proof import TlogProofError
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.signing import SigningKey

ORIGIN = "witnessed.test.example/ledger"
NOW = 1_764_000_000
BATCHES = 40  # appends racing their publications


@pytest.fixture
def key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def witnesses() -> list[CosignatureSigner]:
    return [CosignatureSigner(f"w{i}.test.example/w", SigningKey.generate()) for i in range(3)]


@pytest.fixture
def policy(key: SigningKey, witnesses: list[CosignatureSigner]) -> WitnessPolicy:
    vkey = NoteVerifier.for_key(ORIGIN, key.public).to_vkey()
    lines = [f"log {vkey}"] + [
        f"witness w{i} {w.verifier.to_vkey()}" for i, w in enumerate(witnesses)
    ]
    return WitnessPolicy.parse("\n".join([*lines, "group g 2 w0 w1 w2", "quorum g"]) + "\n")


@pytest.fixture
def store(database_url: str, key: SigningKey) -> Iterator[LedgerStore]:
    ledger = open_ledger(database_url, key)
    yield ledger
    ledger.close()


def open_ledger(database_url: str, key: SigningKey) -> LedgerStore:
    return LedgerStore.open(
        database_url, origin=ORIGIN, signer=key, clock=FixedClock(NOW), publish_on_append=False
    )


def append(store: LedgerStore, count: int) -> str:
    entries = store.append_batch(
        [PendingEntry("warrant_revoked", {"warrant_id": f"w-{i}"}) for i in range(count)]
    )
    return entries[-1].checkpoint


def cosign(store: LedgerStore, note: str, signers: list[CosignatureSigner]) -> bool:
    text = parse_note(note).text
    return store.publish(read_checkpoint(note).size, [w.signature_line(text, NOW) for w in signers])


def test_only_a_published_checkpoint_is_used(
    store: LedgerStore, witnesses: list[CosignatureSigner], policy: WitnessPolicy, key: SigningKey
) -> None:
    note = append(store, 3)
    assert read_checkpoint(store.latest_checkpoint()).size == 0  # signed, not yet witnessed
    with pytest.raises(FailedPrecondition, match="not yet in a published"):
        store.tlog_proof(1)
    assert cosign(store, note, witnesses[:2])
    published = store.latest_checkpoint()
    assert read_checkpoint(published).size == 3
    verifier = NoteVerifier.for_key(ORIGIN, key.public)
    report = verify_ledger(store, [verifier], witness_policy=policy)
    assert set(report.cosigners) == {"w0", "w1"}
    receipt = verify_tlog_proof(
        store.tlog_proof(1), [verifier], origin=ORIGIN, witness_policy=policy
    )
    assert receipt.checkpoint.size == 3


def test_a_published_checkpoint_below_the_verifiers_quorum_fails_verification(
    store: LedgerStore, witnesses: list[CosignatureSigner], policy: WitnessPolicy, key: SigningKey
) -> None:
    """The gateway published on one cosignature (a weaker policy of its own): an auditor
    demanding two refuses it, naming the published size."""
    note = append(store, 4)
    cosign(store, note, witnesses[:1])
    verifier = NoteVerifier.for_key(ORIGIN, key.public)
    assert verify_ledger(store, [verifier]).size == 4  # the log's signature alone holds
    with pytest.raises(LedgerVerificationError, match="witness quorum") as caught:
        verify_ledger(store, [verifier], witness_policy=policy)
    assert caught.value.index == 4
    with pytest.raises(TlogProofError, match="witness quorum"):
        verify_tlog_proof(store.tlog_proof(2), [verifier], origin=ORIGIN, witness_policy=policy)


def test_an_unpublished_tail_still_verifies_against_its_signatures(
    store: LedgerStore, witnesses: list[CosignatureSigner], policy: WitnessPolicy, key: SigningKey
) -> None:
    cosign(store, append(store, 2), witnesses)
    append(store, 3)  # signed, not yet witnessed
    report = verify_ledger(store, [NoteVerifier.for_key(ORIGIN, key.public)], witness_policy=policy)
    assert report.size == 2
    assert report.checkpoints_checked == 3


def test_publication_never_moves_back(
    store: LedgerStore, witnesses: list[CosignatureSigner]
) -> None:
    first = append(store, 2)
    second = append(store, 2)
    assert cosign(store, second, witnesses)
    assert not cosign(store, first, witnesses)  # a late quorum for an older checkpoint
    assert read_checkpoint(store.latest_checkpoint()).size == 4


def test_an_announced_publication_is_read_at_once_and_stored_by_publish(
    store: LedgerStore,
    witnesses: list[CosignatureSigner],
    policy: WitnessPolicy,
    key: SigningKey,
    database_url: str,
) -> None:
    """The gateway announces a publication the moment the quorum cosigns and stores it in
    the background: its own readers use it at once; another process sees it once stored."""
    note = append(store, 3)
    text = parse_note(note).text
    lines = [w.signature_line(text, NOW) for w in witnesses[:2]]
    cosigned = note + "".join(lines)
    store.announce(3, cosigned)
    assert store.latest_checkpoint() == cosigned
    assert store.published_size() == 3
    verifier = NoteVerifier.for_key(ORIGIN, key.public)
    receipt = verify_tlog_proof(
        store.tlog_proof(2), [verifier], origin=ORIGIN, witness_policy=policy
    )
    assert receipt.checkpoint.size == 3
    elsewhere = open_ledger(database_url, key)  # as another process would
    try:
        assert elsewhere.published_size() == 0  # not stored yet: another process lags
        assert store.publish(3, lines)
        assert elsewhere.latest_checkpoint() == cosigned
    finally:
        elsewhere.close()
    store.announce(2, note)  # an older announcement changes nothing
    assert store.latest_checkpoint() == cosigned


def test_publications_stored_while_the_writer_appends_all_land(
    store: LedgerStore,
    witnesses: list[CosignatureSigner],
    policy: WitnessPolicy,
    key: SigningKey,
    database_url: str,
) -> None:
    """The gateway stores each publication on a worker thread while its writer appends on
    another (on SQLite both take this process's append lock, not the file's busy polling):
    no write fails, and what another process reads is the newest cosigned checkpoint."""
    signed: queue.Queue[str | None] = queue.Queue()

    def appender() -> None:
        for _ in range(BATCHES):
            signed.put(append(store, 2))
        signed.put(None)

    def publisher() -> int:
        published = 0
        while (note := signed.get()) is not None:
            published += cosign(store, note, witnesses[:2])
        return published

    with ThreadPoolExecutor(max_workers=2) as pool:
        appended, published = pool.submit(appender), pool.submit(publisher)
        appended.result()
        assert published.result() == BATCHES  # each checkpoint newer than the last
    elsewhere = open_ledger(database_url, key)  # as another process would
    try:
        assert elsewhere.published_size() == 2 * BATCHES
        verifier = NoteVerifier.for_key(ORIGIN, key.public)
        report = verify_ledger(elsewhere, [verifier], witness_policy=policy)
        assert report.size == 2 * BATCHES
        assert set(report.cosigners) == {"w0", "w1"}
    finally:
        elsewhere.close()
