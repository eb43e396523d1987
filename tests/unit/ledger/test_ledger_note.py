"""C2SP signed notes: the spec's example, the Go sumdb vectors, and the verifier rules."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from alprfed.ledger.checkpoint import Checkpoint
from alprfed.ledger.note import (
    MAX_NOTE_BYTES,
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


SIGNED_BY = "signature by ledger.example/test is"
BAD_NAME = "must be non-empty, without spaces or '+'"


@pytest.mark.parametrize(
    ("attack", "note", "problem"),
    [
        ("no_blank_line", "hello\n\u2014 a AAAA\n", "note has no blank line before its signatures"),
        (
            "missing_final_newline",
            "hello\n\n\u2014 ledger.example/test AAAAAAAA",
            "note signatures must end with a newline",
        ),
        (
            "control_character",
            "hel\x07lo\n\n\u2014 ledger.example/test AAAAAAAA\n",
            "note holds control characters other than newline",
        ),
        (
            "carriage_return",
            "hello\r\n\n\u2014 ledger.example/test AAAAAAAA\n",
            "note holds control characters other than newline",
        ),
        (
            "control_character_in_a_signature_line",
            "hello\n\n\u2014 ledger.example/test AAAAAAAA\x1f\n",
            "note holds control characters other than newline",
        ),
        (
            "hyphen_instead_of_em_dash",
            "hello\n\n- ledger.example/test AAAAAAAA\n",
            "a signature line must start with an em dash and a space",
        ),
        (
            "no_signature_after_the_name",
            "hello\n\n\u2014 ledger.example/test\n",
            "a signature line is '\u2014 <key name> <base64 signature>'",
        ),
        ("empty_key_name", "hello\n\n\u2014  AAAAAAAA\n", f"key name '' {BAD_NAME}"),
        (
            "key_name_with_plus",
            "hello\n\n\u2014 ledger+x AAAAAAAA\n",
            f"key name 'ledger+x' {BAD_NAME}",
        ),
        (
            "key_name_with_a_unicode_space",
            "hello\n\n\u2014 ledger\u00a0x AAAAAAAA\n",
            f"key name 'ledger\\xa0x' {BAD_NAME}",
        ),
        (
            "signature_not_base64",
            "hello\n\n\u2014 ledger.example/test !!!!\n",
            f"{SIGNED_BY} not base64",
        ),
        (
            "signature_not_ascii",
            "hello\n\n\u2014 ledger.example/test AAAA\u00e9AAA\n",
            f"{SIGNED_BY} not base64",
        ),
        (
            "signature_too_short",
            "hello\n\n\u2014 ledger.example/test AAAA\n",
            f"{SIGNED_BY} too short",
        ),
        (
            "non_canonical_base64",
            "hello\n\n\u2014 ledger.example/test AAAAAAB=\n",
            f"{SIGNED_BY} not canonical base64",
        ),
        ("empty_signature_line", "hello\n\n\n", "note signatures must end with a newline"),
        (
            "bytes_not_utf8",
            b"hel\xfflo\n\n\xe2\x80\x94 ledger.example/test AAAAAAAA\n",
            "note is not UTF-8",
        ),
        (
            "bytes_with_a_control_character",
            b"hel\x00lo\n\n\xe2\x80\x94 ledger.example/test AAAAAAAA\n",
            "note holds control characters other than newline",
        ),
    ],
)
def test_malformed_notes_are_refused_with_what_is_wrong(
    attack: str, note: str | bytes, problem: str
) -> None:
    """Word for word: the messages reach operators (through checkpoint and policy errors)."""
    with pytest.raises(NoteError) as refused:
        parse_note(note)
    assert refused.value.detail == problem


@pytest.mark.parametrize(
    "note",
    [
        "\u00e9" * (MAX_NOTE_BYTES // 2) + "\n\n",  # within the bound in characters, not bytes
        b"a" * (MAX_NOTE_BYTES + 1),
    ],
    ids=["str", "bytes"],
)
def test_a_note_beyond_the_size_bound_is_refused(note: str | bytes) -> None:
    with pytest.raises(NoteError) as refused:
        parse_note(note)
    assert refused.value.detail == f"note is larger than {MAX_NOTE_BYTES} bytes"


def test_a_note_holding_a_lone_surrogate_is_refused_as_not_utf8() -> None:
    """A Python str can hold one (json.loads makes it from "\\ud800"); it is not text."""
    with pytest.raises(NoteError) as refused:
        parse_note("origin\n1\nroot\ud800\n\n\u2014 origin AAAA\n")
    assert refused.value.detail == "note is not UTF-8"


# Every ASCII character, the C1 controls and the other Unicode line breaks, and characters of
# two, three and four UTF-8 bytes up to the last code point (surrogates cannot be UTF-8).
CHARACTERS = [
    *map(chr, range(0xA0)),
    *"\u00e9\u2014\u2028\u2029\ufeff\uffff\U0001f600\U0010ffff",
]


def refusal(call: Callable[[], object]) -> str | None:
    """What ``call`` refuses with, or None if it does not."""
    try:
        call()
    except NoteError as exc:
        return exc.detail
    return None


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_a_received_note_holds_the_characters_a_signer_may_sign(
    signer: NoteSigner, as_bytes: bool
) -> None:
    """parse_note scans the note's UTF-8 bytes for control characters, sign_note the text:
    they must refuse exactly the same characters, with the same words."""
    for char in CHARACTERS:
        text = f"hel{char}lo\n"
        note = text + "\n" + signer.signature_line(text)
        received = note.encode() if as_bytes else note
        refused_to_sign = refusal(partial(sign_note, text, [signer]))
        if refused_to_sign is None:
            assert open_note(received, [signer.verifier]).text == text, repr(char)
        else:
            assert refusal(partial(parse_note, received)) == refused_to_sign, repr(char)


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
