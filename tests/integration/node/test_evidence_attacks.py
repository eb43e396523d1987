"""Attacks by whoever holds the gateway's signing key (and its TLS identity): the node must
still release nothing without a witnessed ledger decision and a valid warrant it trusts.

Every attack sends a query the gateway key really signed, over the gateway's real mTLS
identity, to a real node; each is refused with PERMISSION_DENIED, returns no sighting and
leaves a "refused" record in the node's access log naming the step that failed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import grpc
import pytest
from authority import Authority
from conftest import credential
from factories import DAY, search_query, sign_query
from nodes import RunningNode, node_config, running_node

from agency_node.server import create_server
from agency_node.storage import NodeStore
from agency_node.trust import load_node_trust
from alprfed import canonical, wire
from alprfed.clock import FixedClock
from alprfed.errors import ConfigError
from alprfed.ledger.checkpoint import read_checkpoint
from alprfed.ledger.cosignature import CosignatureSigner, add_signature_lines
from alprfed.ledger.note import parse_note
from alprfed.messages import SearchQuery
from alprfed.messages.evidence import SearchEvidence
from alprfed.models import Camera, Position, Purpose, Sighting, TimeWindow
from alprfed.signing import Envelope, SigningKey
from alprfed.v1 import node_pb2

GATEWAY = ("federation", "gateway")
STREET = Camera("cam-1", "1st & Santa Clara", Position(37_336_100, -121_890_600))


@contextmanager
def seeded_node(
    tmp_path: Path, pki_dir: Path, url: str, gateway_key: SigningKey, clock: FixedClock
) -> Iterator[RunningNode]:
    """San Jose's node, holding one plate seen 1, 5 and 30 hours before the clock's now."""
    with running_node(
        tmp_path,
        pki_dir,
        agency="sjpd",
        state="CA",
        database_url=url,
        gateway_key=gateway_key,
        clock=clock,
    ) as running:
        now = clock.now()
        sightings = [_sighting(now - hours * 3600) for hours in (1, 5, 30)]
        with NodeStore.open(running.config.database_url) as store:
            store.add_batch([STREET], sightings)
        yield running


@pytest.fixture
def node(
    tmp_path: Path, pki_dir: Path, sqlite_url: str, gateway_key: SigningKey, clock: FixedClock
) -> Iterator[RunningNode]:
    with seeded_node(tmp_path, pki_dir, sqlite_url, gateway_key, clock) as running:
        yield running


@pytest.fixture
def node_on_both(
    tmp_path: Path, pki_dir: Path, database_url: str, gateway_key: SigningKey, clock: FixedClock
) -> Iterator[RunningNode]:
    """The node on SQLite and on PostgreSQL: for the access log's claim-and-record."""
    with seeded_node(tmp_path, pki_dir, database_url, gateway_key, clock) as running:
        yield running


def _sighting(observed_at: int) -> Sighting:
    return Sighting(
        plate="7ABC123",
        plate_state="CA",
        observed_at=observed_at,
        camera_id=STREET.camera_id,
        position=STREET.position,
        confidence_per_mille=900,
    )


def send(
    node: RunningNode, pki_dir: Path, query: Envelope, evidence: bytes | None
) -> node_pb2.SearchResponse:
    request = node_pb2.SearchRequest(query=wire.envelope_to_pb(query), evidence=evidence or b"")
    return node.stub(credential(pki_dir, *GATEWAY)).Search(request, timeout=10)


def refused_at(
    node: RunningNode, pki_dir: Path, query: SearchQuery, evidence: bytes | None, key: SigningKey
) -> str:
    """Send the attack; assert it got nothing; return the step the node logged."""
    checked = evidence_checks(node, "refused")
    with pytest.raises(grpc.RpcError) as caught:
        send(node, pki_dir, sign_query(key, query), evidence)
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert evidence_checks(node, "refused") == checked + 1  # its check timed, as refused
    assert caught.value.details() == "the query's evidence does not authorize it"
    with NodeStore.open(node.config.database_url) as store:
        record = store.access_log()[-1]
    assert record.outcome == "refused"
    assert record.query_id == query.query_id
    assert record.receipt is None
    assert record.count == 0
    return record.reason


def evidence_checks(node: RunningNode, outcome: str) -> float:
    """Evidence checks the node timed (its /metrics histogram), by outcome."""
    return (
        node.server.telemetry.registry.get_sample_value(
            "alprfed_node_evidence_check_seconds_count", {"outcome": outcome}
        )
        or 0.0
    )


def test_the_honest_path_answers_and_logs_the_answer(
    node_on_both: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    node = node_on_both
    query = search_query(clock.now())
    decision = node.authority.decide(query)
    response = send(
        node,
        pki_dir,
        sign_query(gateway_key, query),
        node.authority.evidence(query, decision_index=decision),
    )
    assert len(response.sightings) == 3
    with NodeStore.open(node.config.database_url) as store:
        (record,) = store.access_log()
    assert (record.outcome, record.query_id, record.decision_index, record.count) == (
        "answered",
        query.query_id,
        decision,
        3,
    )
    assert record.receipt is not None
    assert record.receipt.payload == response.receipt.payload
    assert (evidence_checks(node, "verified"), evidence_checks(node, "refused")) == (1, 0)


def test_a_stolen_gateway_key_without_a_logged_decision_gets_nothing(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now())
    assert "no evidence" in refused_at(node, pki_dir, query, None, gateway_key)


def test_a_decision_logged_for_another_query_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    logged = search_query(clock.now())
    other_entry = node.authority.decide(logged)
    forged = search_query(clock.now())  # same plate, warrant and everything: another query id
    evidence = node.authority.evidence(forged, decision_index=other_entry)
    assert "query id" in refused_at(node, pki_dir, forged, evidence, gateway_key)


def test_a_decision_for_another_plate_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now())
    evidence = node.authority.evidence(query, plate="OTHER99")
    assert "plate" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_decision_that_permits_another_node_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now(), addressees=("sjpd", "chicago-pd"))
    evidence = node.authority.evidence(query, permitted=("chicago-pd",))
    assert "permission for this node" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_decision_with_another_window_or_purpose_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    query = search_query(now)
    wider = node.authority.evidence(query, window=[now - 400 * DAY, now])
    assert "window" in refused_at(node, pki_dir, query, wider, gateway_key)
    query = search_query(now)
    other = node.authority.evidence(query, purpose="robbery")
    assert "purpose" in refused_at(node, pki_dir, query, other, gateway_key)


def test_an_answered_query_id_is_never_answered_again(
    node_on_both: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    node = node_on_both
    query = search_query(clock.now())
    decision = node.authority.decide(query)
    evidence = node.authority.evidence(query, decision_index=decision)
    assert len(send(node, pki_dir, sign_query(gateway_key, query), evidence).sightings) == 3
    again = search_query(clock.now(), query_id=query.query_id)  # a fresh nonce, same decision
    with pytest.raises(grpc.RpcError) as caught:
        send(node, pki_dir, sign_query(gateway_key, again), evidence)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    with NodeStore.open(node.config.database_url) as store:
        answered, refused = store.access_log()
    assert (answered.outcome, refused.outcome) == ("answered", "refused")
    assert "replay" in refused.reason


def test_evidence_edited_after_the_gateway_built_it_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """The evidence is not signed as a whole, so whoever holds the gateway's key may edit it at
    will: each edit must still be caught by the signature of the part it touches."""
    other_warrant, _ = node.authority.warrant_for(search_query(clock.now(), plate="8XYZ999"))

    def edited_warrant(honest: SearchEvidence) -> SearchEvidence:
        assert honest.warrant is not None
        assert b'"agency":"sjpd"' in honest.warrant.payload
        payload = honest.warrant.payload.replace(b'"agency":"sjpd"', b'"agency":"sfpd"')
        return replace(honest, warrant=replace(honest.warrant, payload=payload))

    def edited_entry(honest: SearchEvidence, query: SearchQuery) -> SearchEvidence:
        entry = honest.decision.entry
        assert query.query_id.encode() in entry
        forged = entry.replace(query.query_id.encode(), b"f" * len(query.query_id))
        return replace(honest, decision=replace(honest.decision, entry=forged))

    edits: dict[str, Callable[[SearchEvidence, SearchQuery], SearchEvidence]] = {
        # guessing the opening of the decision's plate commitment
        "plate salt": lambda honest, _: replace(honest, plate_salt=bytes(32)),
        # a genuine court-signed warrant, but for another plate
        "warrant": lambda honest, _: replace(honest, warrant=other_warrant),
        # the court's signed bytes rewritten (to authorize another agency)
        "warrant payload": lambda honest, _: edited_warrant(honest),
        # the checkpoint's tree size changed under the log's signature
        "checkpoint": lambda honest, _: replace(honest, checkpoint=_bump_size(honest.checkpoint)),
        # the decision entry's bytes rewritten under its inclusion proof
        "decision entry": edited_entry,
    }
    steps = {}
    for name, edit in edits.items():
        query = search_query(clock.now())
        bundle = canonical.encode(edit(node.authority.bundle(query), query).to_canonical())
        steps[name] = refused_at(node, pki_dir, query, bundle, gateway_key).split(":")[0]
    assert steps == {
        "plate salt": "step 3",
        "warrant": "step 4",
        "warrant payload": "step 4",
        "checkpoint": "step 2",
        "decision entry": "step 3",
    }


def test_what_the_node_remembers_lets_no_other_bytes_pass(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """The node remembers a verified warrant and its decoded registration entry by their exact
    bytes, since one warrant serves many queries. With both remembered from an honest query,
    bytes that differ in any way must get what a node that remembers nothing gives them."""
    honest_query = search_query(clock.now())
    answer = send(
        node, pki_dir, sign_query(gateway_key, honest_query), node.authority.evidence(honest_query)
    )
    assert answer.receipt.payload  # the warrant and its registration are now remembered
    warrant, _ = node.authority.warrant_for(honest_query)
    _, other_registration = node.authority.warrant_for(honest_query, warrant_id="w-2025-0099")

    def registration_edited(honest: SearchEvidence, _: SearchQuery) -> SearchEvidence:
        assert honest.warrant_entry is not None
        entry = honest.warrant_entry.entry
        at = entry.index(b'"payload_sha256":"') + len(b'"payload_sha256":"')
        digit = b"0" if entry[at : at + 1] != b"0" else b"1"
        forged = entry[:at] + digit + entry[at + 1 :]  # still a well-formed entry
        return replace(honest, warrant_entry=replace(honest.warrant_entry, entry=forged))

    def signature_edited(honest: SearchEvidence, _: SearchQuery) -> SearchEvidence:
        assert honest.warrant is not None
        signature = bytes([honest.warrant.signature[0] ^ 1]) + honest.warrant.signature[1:]
        return replace(honest, warrant=replace(honest.warrant, signature=signature))

    def payload_edited(honest: SearchEvidence, _: SearchQuery) -> SearchEvidence:
        assert honest.warrant is not None
        payload = honest.warrant.payload.replace(b'"agency":"sjpd"', b'"agency":"sfpd"')
        assert payload != honest.warrant.payload
        return replace(honest, warrant=replace(honest.warrant, payload=payload))

    edits: dict[str, Callable[[SearchEvidence, SearchQuery], SearchEvidence]] = {
        "registration bytes": registration_edited,
        "warrant signature": signature_edited,
        "warrant payload": payload_edited,
    }
    reasons = {}
    for name, edit in edits.items():
        query = search_query(clock.now())
        bundle = canonical.encode(edit(node.authority.bundle(query), query).to_canonical())
        reasons[name] = refused_at(node, pki_dir, query, bundle, gateway_key)
    # The remembered warrant, cited with another warrant's registration (genuine, included).
    query = search_query(clock.now())
    evidence = node.authority.evidence(query, warrant=(warrant, other_registration))
    reasons["another registration"] = refused_at(node, pki_dir, query, evidence, gateway_key)
    assert all(reason.startswith("step 4:") for reason in reasons.values()), reasons
    assert "inclusion proof" in reasons["registration bytes"]
    assert "signature" in reasons["warrant signature"]
    assert "does not register this warrant" in reasons["another registration"]
    query = search_query(clock.now())  # and the honest evidence still passes
    assert send(node, pki_dir, sign_query(gateway_key, query), node.authority.evidence(query))


def _bump_size(note: str) -> str:
    origin, size, rest = note.split("\n", 2)
    return f"{origin}\n{int(size) + 1}\n{rest}"


def test_a_warrant_from_an_unknown_court_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now())
    rogue = node.authority.warrant_for(query, court="rogue-court", signer=SigningKey.generate())
    evidence = node.authority.evidence(query, warrant=rogue)
    assert "warrant" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_warrant_from_a_court_without_jurisdiction_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """A Texas court this node trusts for Texas agencies cannot authorize San Jose PD."""
    query = search_query(clock.now())
    texan = node.authority.warrant_for(
        query, court="court-tx", signer=node.authority.state_court_keys["TX"]
    )
    evidence = node.authority.evidence(query, warrant=texan)
    assert "no jurisdiction" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_an_expired_warrant_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    now = clock.now()
    query = search_query(now)
    expired = node.authority.warrant_for(query, issued_at=now - 40 * DAY, expires_at=now - 1)
    evidence = node.authority.evidence(query, warrant=expired)
    assert "expired" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_warrant_for_another_plate_is_refused(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now())
    other = node.authority.warrant_for(query, plates=("OTHER99",))
    evidence = node.authority.evidence(query, warrant=other)
    assert "does not list the plate" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_checkpoint_below_the_witness_quorum_or_stale_is_refused(
    tmp_path: Path, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """A node whose own policy demands a witness: no cosignature, or a stale one, is refused;
    a fresh cosignature by that witness is accepted."""
    witness = CosignatureSigner("witness.test.example/w1", SigningKey.generate())
    _check_quorum_attacks(tmp_path, pki_dir, gateway_key, clock, witness)


@contextmanager
def witnessed_node(
    tmp_path: Path,
    pki_dir: Path,
    gateway_key: SigningKey,
    clock: FixedClock,
    witness: CosignatureSigner,
) -> Iterator[tuple[RunningNode, Authority]]:
    """A node whose own policy demands ``witness``'s cosignature, and its ledger side."""
    directory = tmp_path / "witnessed"
    directory.mkdir()
    authority = Authority(directory, gateway_key, clock)
    authority.policy_file.write_text(
        f"log {authority.vkey}\nwitness w1 {witness.verifier.to_vkey()}\nquorum w1\n"
    )
    config, _ = node_config(
        directory,
        pki_dir,
        agency="sjpd",
        state="CA",
        database_url=f"sqlite:///{directory / 'node.db'}",
        gateway_key=gateway_key,
        trust_file=authority.trust_file(),
    )
    server, port = create_server(config, clock=clock)
    server.start()
    try:
        yield (
            RunningNode("sjpd", "CA", server, port, SigningKey.generate(), config, authority),
            (authority),
        )
    finally:
        server.stop(grace=None)
        authority.close()


def _check_quorum_attacks(
    tmp_path: Path,
    pki_dir: Path,
    gateway_key: SigningKey,
    clock: FixedClock,
    witness: CosignatureSigner,
) -> None:
    with witnessed_node(tmp_path, pki_dir, gateway_key, clock, witness) as (running, authority):
        now = clock.now()

        def evidence_with(timestamp: int | None, query: SearchQuery) -> bytes:
            decision = authority.decide(query)
            note = authority.store.latest_checkpoint()
            if timestamp is not None:
                text = parse_note(note).text
                note = add_signature_lines(note, [witness.signature_line(text, timestamp)])
            assert read_checkpoint(note).size == decision + 1
            return authority.evidence(query, decision_index=decision, checkpoint=note)

        query = search_query(now)
        assert "quorum" in refused_at(
            running, pki_dir, query, evidence_with(None, query), gateway_key
        )
        query = search_query(now)
        stale = evidence_with(now - 3600, query)
        assert "quorum" in refused_at(running, pki_dir, query, stale, gateway_key)
        query = search_query(now)
        fresh = evidence_with(now - 5, query)
        assert send(running, pki_dir, sign_query(gateway_key, query), fresh).receipt.payload


def test_a_cached_checkpoint_lets_no_other_note_pass(
    tmp_path: Path, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    """The node verifies a checkpoint once and remembers it by its exact note (the queries of
    one ledger batch share it). Once a good note is remembered, a note one byte away from it,
    the same checkpoint without its cosignature, and the good note itself once its
    cosignature has aged past the node's limit are each still refused."""
    witness = CosignatureSigner("witness.test.example/w1", SigningKey.generate())
    with witnessed_node(tmp_path, pki_dir, gateway_key, clock, witness) as (running, authority):
        now = clock.now()
        age = load_node_trust(running.config.trust_file).max_checkpoint_age_s
        # Six queries decided in a row: the latest checkpoint includes every decision. The
        # last is sent once the cosignature is too old, so it is issued then.
        queries = [search_query(now) for _ in range(5)]
        queries.append(search_query(now + age, window=queries[0].window))
        decisions = [authority.decide(query) for query in queries]
        unwitnessed = authority.store.latest_checkpoint()
        text = parse_note(unwitnessed).text
        good = add_signature_lines(unwitnessed, [witness.signature_line(text, now - 5)])

        def evidence(i: int, note: str) -> bytes:
            return authority.evidence(queries[i], decision_index=decisions[i], checkpoint=note)

        def reason(i: int, note: str) -> str:
            return refused_at(running, pki_dir, queries[i], evidence(i, note), gateway_key)

        for i in (0, 1):  # verified, then answered from the cache (this node holds no data)
            answer = send(running, pki_dir, sign_query(gateway_key, queries[i]), evidence(i, good))
            assert answer.receipt.payload
        with NodeStore.open(running.config.database_url) as store:
            assert [r.outcome for r in store.access_log()] == ["answered", "answered"]
        # One byte of the root hash (under the log's signature), then one of the cosignature.
        root = text.split("\n")[2]
        assert "ledger does not verify" in reason(2, good.replace(root, _one_char_off(root, 0)))
        cosignature = good.rstrip("\n").rsplit(" ", 1)[1]
        # Past the key ID and the timestamp (16 base64 characters): the signature itself.
        edited = good.replace(cosignature, _one_char_off(cosignature, 40))
        assert edited != good
        assert len(edited) == len(good)
        assert "w1 does not verify" in reason(3, edited)
        assert "quorum" in reason(4, unwitnessed)  # below quorum: no cosignature at all
        # The remembered note, once its cosignature is older than the node accepts.
        clock.advance(age)
        assert "too old" in reason(5, good)


def _one_char_off(base64_text: str, at: int) -> str:
    """``base64_text`` with the character ``at`` changed: one byte of what it encodes, and
    still canonical base64 (only the last character carries padding bits)."""
    other = "B" if base64_text[at] == "A" else "A"
    return base64_text[:at] + other + base64_text[at + 1 :]


@pytest.fixture
def live_node(
    tmp_path: Path, pki_dir: Path, sqlite_url: str, gateway_key: SigningKey
) -> Iterator[tuple[RunningNode, FixedClock]]:
    """A node on today's clock: the session's certificates are valid now, not at NOW."""
    clock = FixedClock(int(time.time()))
    with seeded_node(tmp_path, pki_dir, sqlite_url, gateway_key, clock) as running:
        yield running, clock


def exigent_query(now: int) -> SearchQuery:
    return search_query(
        now,
        warrant_id=None,
        exigent=True,
        purpose=Purpose.AMBER_ALERT,
        window=TimeWindow(now - 3600 * 24, now),
        case_number="SJ-AMBER-7",
    )


def test_an_exigent_query_with_the_supervisors_consent_is_answered(
    live_node: tuple[RunningNode, FixedClock], pki_dir: Path, gateway_key: SigningKey
) -> None:
    node, clock = live_node
    query = exigent_query(clock.now())
    approval = node.authority.approve(query, credential(pki_dir, "sjpd", "sgt-nguyen"))
    evidence = node.authority.evidence(query, exigent=approval)
    answer = send(node, pki_dir, sign_query(gateway_key, query), evidence)
    assert len(answer.sightings) == 2  # the reads of the last day: 1 h and 5 h ago


def test_an_exigent_approval_the_supervisor_did_not_sign_is_refused(
    live_node: tuple[RunningNode, FixedClock], pki_dir: Path, gateway_key: SigningKey
) -> None:
    """The gateway's operator logs an approval in the sergeant's name with no consent, or with
    a consent the officer signed with their own key: the node refuses both."""
    node, clock = live_node
    query = exigent_query(clock.now())
    index, _, chain = node.authority.approve(query, credential(pki_dir, "sjpd", "sgt-nguyen"))
    evidence = node.authority.evidence(query, exigent=(index, None, chain))
    assert "consent" in refused_at(node, pki_dir, query, evidence, gateway_key)
    query = exigent_query(clock.now())
    own = node.authority.approve(
        query, credential(pki_dir, "sjpd", "officer-garcia"), supervisor="sgt-nguyen"
    )
    evidence = node.authority.evidence(query, exigent=own)
    assert "consent" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_logged_decision_of_the_wrong_shape_is_refused_and_logged(
    node: RunningNode, pki_dir: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    query = search_query(clock.now())
    evidence = node.authority.evidence(query, requester="sjpd/officer-garcia")
    assert "malformed" in refused_at(node, pki_dir, query, evidence, gateway_key)


def test_a_node_refuses_to_start_on_a_policy_without_witnesses_unless_told(
    tmp_path: Path, gateway_key: SigningKey, clock: FixedClock
) -> None:
    authority = Authority(tmp_path, gateway_key, clock)
    try:
        trust = authority.trust_file()
        trust.write_text(trust.read_text().replace("allow_unwitnessed = true\n", ""))
        with pytest.raises(ConfigError, match="quorum none"):
            load_node_trust(trust)
    finally:
        authority.close()
