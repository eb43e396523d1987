"""A C2SP tlog-tiles client written from the specifications alone, to check alprfed against.

It shares no code with alprfed: its own path encoding (tlog-tiles), RFC 6962 hashing with
hashlib, signed-note parsing and Ed25519 verification with `cryptography` from the vkey text
(signed-note, tlog-checkpoint). It follows a log: each ``update`` fetches the checkpoint,
verifies the log's signature, fetches the tiles the tree of that size consists of, checks each
full tile against its hash one level up, rebuilds the root from tiles alone and compares it with
the checkpoint's, proves the new tree extends the one it verified before (rebuilding the old
root from the new tiles), and fetches the new entries' bundles, checking every entry against
its level-0 tile hash. Anything wrong raises ClientError.

Resources come through ``fetch(path) -> bytes``, with path relative to the log's prefix
(``checkpoint``, ``tile/0/000``), raising Missing for a 404: over HTTP or from a directory.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey


class ClientError(Exception):
    """The log served something that does not verify."""


class Missing(Exception):
    """The resource does not exist (HTTP 404, or no such file)."""


Fetch = Callable[[str], bytes]


# --- fetching --------------------------------------------------------------------------------


@dataclass
class HttpFetch:
    """GET prefix + path; records each response's headers by path."""

    prefix: str
    headers: dict[str, dict[str, str]] = field(default_factory=dict)
    count: int = 0

    def __call__(self, path: str) -> bytes:
        request = urllib.request.Request(
            self.prefix + path, headers={"Accept-Encoding": "gzip, identity"}
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                body = bytes(response.read())
                headers = {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise Missing(path) from None
            raise ClientError(f"{path}: HTTP {exc.code}") from None
        self.count += 1
        self.headers[path] = headers
        if headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        return body


@dataclass
class FileFetch:
    """Read prefix-relative paths from a directory (an exported static tree)."""

    root: Path

    def __call__(self, path: str) -> bytes:
        try:
            return (self.root / path).read_bytes()
        except FileNotFoundError:
            raise Missing(path) from None


# --- RFC 6962 hashing (§2.1) ---------------------------------------------------------------


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def interior_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def hash_run(hashes: list[bytes]) -> bytes:
    """MTH of consecutive subtree roots, split at the largest power of two below n."""
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return interior_hash(hash_run(hashes[:k]), hash_run(hashes[k:]))


# --- signed notes and checkpoints -----------------------------------------------------------


@dataclass(frozen=True)
class Vkey:
    name: str
    key_id: bytes
    public: Ed25519PublicKey

    @classmethod
    def parse(cls, text: str) -> Vkey:
        """``<name>+<hex key ID>+<base64(0x01 || key)>`` (signed-note, "Verifier keys")."""
        name, key_id_hex, key_b64 = text.strip().split("+", 2)
        raw = base64.b64decode(key_b64, validate=True)
        if raw[:1] != b"\x01" or len(raw) != 33:
            raise ClientError("not an Ed25519 verifier key")
        key_id = bytes.fromhex(key_id_hex)
        if hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4] != key_id:
            raise ClientError("the verifier key's ID does not match its key")
        return cls(name, key_id, Ed25519PublicKey.from_public_bytes(raw[1:]))


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: bytes, vkey: Vkey) -> Checkpoint:
    """Verify the log's signature on a checkpoint note, then parse its text."""
    text_str = note.decode("utf-8")
    text, separator, signatures = text_str.rpartition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise ClientError("not a signed note")
    text += "\n"
    verified = False
    for line in signatures[:-1].split("\n"):
        if not line.startswith("\u2014 "):
            raise ClientError(f"bad signature line {line!r}")
        name, _, blob_b64 = line[2:].rpartition(" ")
        blob = base64.b64decode(blob_b64, validate=True)
        if name != vkey.name or blob[:4] != vkey.key_id:
            continue  # another key's signature (a witness): not ours to check
        try:
            vkey.public.verify(blob[4:], text.encode("utf-8"))
        except InvalidSignature:
            raise ClientError("the log's signature does not verify") from None
        verified = True
    if not verified:
        raise ClientError("the checkpoint carries no signature by the log")
    lines = text[:-1].split("\n")
    origin, size_text, root_b64 = lines[:3]
    if origin != vkey.name or not size_text.isdigit() or str(int(size_text)) != size_text:
        raise ClientError("bad checkpoint text")
    root = base64.b64decode(root_b64, validate=True)
    if len(root) != 32:
        raise ClientError("bad checkpoint root")
    return Checkpoint(origin, int(size_text), root)


# --- tile paths (tlog-tiles "Merkle Tree") --------------------------------------------------


def encode_index(n: int) -> str:
    """Zero-padded 3-digit elements, all but the last prefixed with x: x001/x234/067."""
    digits = str(n)
    digits = "0" * (-len(digits) % 3) + digits
    elements = [digits[i : i + 3] for i in range(0, len(digits), 3)]
    return "/".join([*("x" + e for e in elements[:-1]), elements[-1]])


def tile_url(level: int | str, n: int, width: int) -> str:
    suffix = "" if width == 256 else f".p/{width}"
    return f"tile/{level}/{encode_index(n)}{suffix}"


# --- the client --------------------------------------------------------------------------


class TlogTilesClient:
    """Follows one log, verifying everything; ``checkpoint`` is the last verified one."""

    def __init__(self, fetch: Fetch, vkey: str) -> None:
        self.fetch = fetch
        self.vkey = Vkey.parse(vkey)
        self.checkpoint: Checkpoint | None = None
        self.entries: list[bytes] = []
        self._full_tiles: dict[tuple[int, int], list[bytes]] = {}  # immutable: fetched once
        self._tiles: dict[tuple[int, int], list[bytes]] = {}  # for the current size
        self.fetched_tiles: list[str] = []

    def update(self) -> Checkpoint:
        new = open_checkpoint(self.fetch("checkpoint"), self.vkey)
        old = self.checkpoint
        if old is not None and new.size < old.size:
            raise ClientError(f"the log shrank from {old.size} to {new.size}")
        self._load_tiles(new.size)
        if self._mth(0, new.size) != new.root:
            raise ClientError(f"the tiles do not make the root of size {new.size}")
        if old is not None and old.size and self._mth(0, old.size) != old.root:
            raise ClientError(f"size {new.size} does not extend the verified size {old.size}")
        self._load_entries(len(self.entries), new.size)
        self.checkpoint = new
        return new

    def _tile(self, level: int, n: int, width: int) -> list[bytes]:
        if width == 256 and (level, n) in self._full_tiles:
            return self._full_tiles[(level, n)]
        path = tile_url(level, n, width)
        data = self.fetch(path)
        self.fetched_tiles.append(path)
        if len(data) != 32 * width:
            raise ClientError(f"{path} is {len(data)} bytes, not {32 * width}")
        hashes = [data[i : i + 32] for i in range(0, len(data), 32)]
        if width == 256:
            self._full_tiles[(level, n)] = hashes
        return hashes

    def _load_tiles(self, size: int) -> None:
        """Every tile of the tree of ``size``: at level l there are size // 256**l hashes."""
        self._tiles = {}
        level, count = 0, size
        while count:
            for n in range((count + 255) // 256):
                width = min(256, count - n * 256)
                self._tiles[(level, n)] = self._tile(level, n, width)
            level, count = level + 1, count // 256
        # "each hash in a tile is the Merkle Tree Hash of a full tile at the level below"
        for (level, n), hashes in self._tiles.items():
            if len(hashes) == 256:
                above = self._tiles[(level + 1, n // 256)][n % 256]
                if hash_run(hashes) != above:
                    raise ClientError(f"tile {level}/{n} does not hash to its parent hash")

    def _hash_at(self, level: int, j: int) -> bytes:
        return self._tiles[(level, j // 256)][j % 256]

    def _subtree(self, height: int, j: int) -> bytes:
        """MTH of the 2**height leaves from j * 2**height, from tile hashes only."""
        level, rest = divmod(height, 8)
        if rest == 0:
            return self._hash_at(level, j)
        first = j << rest
        return hash_run([self._hash_at(level, first + i) for i in range(1 << rest)])

    def _mth(self, lo: int, hi: int) -> bytes:
        """RFC 6962 §2.1 MTH(D[lo:hi]); every left part is an aligned complete subtree."""
        n = hi - lo
        if n == 0:
            return hashlib.sha256(b"").digest()
        if n & (n - 1) == 0 and lo % n == 0:
            return self._subtree(n.bit_length() - 1, lo // n)
        k = 1
        while k * 2 < n:
            k *= 2
        return interior_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))

    def _load_entries(self, start: int, size: int) -> None:
        """Fetch the bundles holding entries start..size-1; check each against the tiles."""
        self.entries = self.entries[: start - start % 256]
        for n in range(start // 256, (size + 255) // 256):
            width = min(256, size - n * 256)
            path = tile_url("entries", n, width)
            data = self.fetch(path)
            bundle: list[bytes] = []
            offset = 0
            while offset < len(data):
                if offset + 2 > len(data):
                    raise ClientError(f"{path} is truncated")
                length = int.from_bytes(data[offset : offset + 2], "big")
                entry = data[offset + 2 : offset + 2 + length]
                if len(entry) != length:
                    raise ClientError(f"{path} is truncated")
                bundle.append(entry)
                offset += 2 + length
            if len(bundle) != width:
                raise ClientError(f"{path} holds {len(bundle)} entries, not {width}")
            for i, entry in enumerate(bundle):
                if leaf_hash(entry) != self._hash_at(0, n * 256 + i):
                    raise ClientError(f"entry {n * 256 + i} does not match its leaf hash")
            self.entries.extend(bundle)
