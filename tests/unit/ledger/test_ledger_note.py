"""C2SP signed notes: the spec's example, the Go sumdb vectors, and the verifier rules."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprfed.ledger.checkpoint import Checkpoint
from alprfed.ledger.note import (
    MAX_SIGNATURES,
    NoteError,
    NoteSigner,
    NoteVerifier,
    open_note,
    parse_note,
    sign_note,
)
from alprfed.signing import SigningKey


def _spec_example(c2sp_text: Callable[[str], str]) -> tuple[str, str]:
    """The vkey and the note of the 'Example' section of signed-note.md, as published."""
    spec = c2sp_text("signed-note.md")
    example = spec[spec.index("### Example") :]
    vkey = re.search(r"^    (\S+\+[0-9a-f]{8}\+\S+)$", example, re.MULTILINE)
    block = re.search(r"```\n(.*?)```", example, re.DOTALL)
    assert vkey
    assert block
    return vkey.group(1), block.group(1)


def _go_private_key(text: str) -> SigningKey:
    """golang.org/x/mod/sumdb/note private key text: PRIVATE+KEY+name+id+base64(0x01||seed)."""
    _, _, _, _, encoded = text.split("+", 4)
    material = base64.b64decode(encoded)
    assert material[0] == 0x01
    return SigningKey(Ed25519PrivateKey.from_private_bytes(material[1:]))


def test_the_spec_example_verifies(c2sp_text: Callable[[str], str]) -> None:
    vkey, note = _spec_example(c2sp_text)
    verifier = NoteVerifier.from_vkey(vkey)
    assert verifier.to_vkey() == vkey
    assert open_note(note, [verifier]).text == "This is an example message.\n"


def test_the_core_vector_notes_verify(core_vectors: dict[str, Any]) -> None:
    for case in core_vectors["signed_note"]:
        verifier = NoteVerifier.from_vkey(case["vkey"])
        opened = open_note(case["note"], [verifier])
        assert case["note"].startswith(opened.text + "\n")


def test_go_sumdb_signature_is_reproduced_byte_for_byte(core_vectors: dict[str, Any]) -> None:
    case = next(c for c in core_vectors["signed_note"] if "skey_TEST_ONLY" in c)
    key = _go_private_key(case["skey_TEST_ONLY"])
    signer = NoteSigner("PeterNeumann", key)
    assert signer.verifier.to_vkey() == case["vkey"]
    text = case["note"][: case["note"].rindex("\n\n") + 1]
    assert sign_note(text, [signer]) == case["note"]  # Ed25519 is deterministic


def test_sum_golang_org_checkpoint_parses_after_verification(
    core_vectors: dict[str, Any],
) -> None:
    case = next(c for c in core_vectors["signed_note"] if c["vkey"].startswith("sum.golang"))
    opened = open_note(case["note"], [NoteVerifier.from_vkey(case["vkey"])])
    checkpoint = Checkpoint.parse(opened.text)
    assert (checkpoint.origin, checkpoint.size) == ("go.sum database tree", 6476701)
    assert base64.b64encode(checkpoint.root).decode() == (
        "mb8QLQIs0Z0yP5Cstq6guj87oXWeC9gEM8oVikmm9Wk="
    )


def test_text_is_split_at_the_last_blank_line(c2sp_text: Callable[[str], str]) -> None:
    spec = c2sp_text("signed-note.md")
    poem = re.search(r"```\n(Ognuno.*?)```", spec, re.DOTALL)
    assert poem
    parsed = parse_note(poem.group(1))
    assert parsed.text.endswith("trafitto da un raggio di sole:\n\ned è subito sera.\n")
    assert [s.name for s in parsed.signatures] == ["quasimodo.example/salvatore"]


@pytest.fixture
def signer() -> NoteSigner:
    return NoteSigner("ledger.example/test", SigningKey.generate())


def test_unknown_keys_are_ignored_even_when_they_share_a_name_or_an_id(
    signer: NoteSigner,
) -> None:
    same_name = NoteSigner(signer.name, SigningKey.generate())  # same name, other key and ID
    other = NoteSigner("witness.example/w1", SigningKey.generate())
    note = sign_note("hello\n", [same_name, other, signer])
    assert open_note(note, [signer.verifier]).text == "hello\n"
    # A garbage signature under the known key's ID but another name is ignored too.
    borrowed_id = base64.b64encode(signer.verifier.key_id + bytes(64)).decode()
    assert open_note(note + f"\u2014 witness.example/w1 {borrowed_id}\n", [signer.verifier])


def test_a_known_keys_bad_signature_rejects_the_note(signer: NoteSigner) -> None:
    note = sign_note("hello\n", [signer])
    line = note.splitlines()[-1]
    raw = bytearray(base64.b64decode(line.split(" ")[-1]))
    raw[10] ^= 1  # a flipped bit inside the Ed25519 signature
    forged = note.replace(line.split(" ")[-1], base64.b64encode(bytes(raw)).decode())
    with pytest.raises(NoteError, match="does not verify"):
        open_note(forged, [signer.verifier])
    # ... even when another known key's valid signature is on the note as well.
    second = NoteSigner("other.example/log", SigningKey.generate())
    both = forged + second.signature_line("hello\n")
    with pytest.raises(NoteError, match="does not verify"):
        open_note(both, [signer.verifier, second.verifier])


def test_a_note_no_known_key_signed_is_rejected(signer: NoteSigner) -> None:
    note = sign_note("hello\n", [NoteSigner("witness.example/w1", SigningKey.generate())])
    with pytest.raises(NoteError, match="not signed by any known key"):
        open_note(note, [signer.verifier])


def test_the_text_is_what_is_signed(signer: NoteSigner) -> None:
    note = sign_note("size 5\n", [signer])
    with pytest.raises(NoteError):
        open_note(note.replace("size 5", "size 6"), [signer.verifier])


@pytest.mark.parametrize(
    ("attack", "note"),
    [
        ("no_blank_line", "hello\n\u2014 a AAAA\n"),
        ("missing_final_newline", "hello\n\n\u2014 ledger.example/test AAAAAAAA"),
        ("control_character", "hel\x07lo\n\n\u2014 ledger.example/test AAAAAAAA\n"),
        ("carriage_return", "hello\r\n\n\u2014 ledger.example/test AAAAAAAA\n"),
        ("hyphen_instead_of_em_dash", "hello\n\n- ledger.example/test AAAAAAAA\n"),
        ("key_name_with_plus", "hello\n\n\u2014 ledger+x AAAAAAAA\n"),
        ("signature_not_base64", "hello\n\n\u2014 ledger.example/test !!!!\n"),
        ("signature_too_short", "hello\n\n\u2014 ledger.example/test AAAA\n"),
        ("non_canonical_base64", "hello\n\n\u2014 ledger.example/test AAAAAAB=\n"),
        ("empty_signature_line", "hello\n\n\n"),
    ],
)
def test_malformed_notes_are_refused(attack: str, note: str) -> None:
    with pytest.raises(NoteError):
        parse_note(note)


def test_the_number_of_signatures_is_bounded(signer: NoteSigner) -> None:
    note = sign_note("hello\n", [signer])
    line = note.splitlines()[-1] + "\n"
    assert open_note(note + line * 15, [signer.verifier])  # 16 signatures are accepted
    with pytest.raises(NoteError, match="more than"):
        parse_note(note + line * MAX_SIGNATURES)


@pytest.mark.parametrize(
    ("attack", "vkey"),
    [
        ("wrong_key_id", "example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        (
            "other_signature_type",
            "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        ),
        ("truncated_key", "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYc"),
        ("two_parts", "example.com/foo+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
        ("upper_case_id", "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"),
    ],
)
def test_malformed_vkeys_are_refused(attack: str, vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_vkey(vkey)


def test_key_names_with_spaces_cannot_sign() -> None:
    with pytest.raises(NoteError):
        NoteSigner("ledger example", SigningKey.generate())
