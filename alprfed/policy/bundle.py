"""The policy bundle: everything that decides a query, hashed and published in the ledger.

A bundle is the Casbin model and policy, every state law pack, and the federation (agencies,
their states, kinds, node keys and declarations on file; trusted courts; exigent settings).
The gateway builds it from disk, then loads its gates *from the bundle's bytes* — so what the
ledger publishes is exactly what is enforced — and appends a ``policy_bundle`` entry whenever
the digest changes. The audit replay loads each historical bundle the same way.

Canonical form (docs/LEDGER.md), version 3:
``{"v":3, "documents": {path: SHA-256 hex of the text's UTF-8}}``, where the federation is the
document FEDERATION_DOCUMENT (its canonical JSON as text); the digest is the hex SHA-256 of
the canonical bytes. The texts themselves go into the ledger as ``policy_document`` entries
(``document_bodies``: one each, or parts of one too large), before the ``policy_bundle`` entry
that names them: 51 law packs do not fit in one entry (MAX_ENTRY_BYTES), one pack easily does,
and neither does the federation of a national network (about 250 bytes an agency: 1,024
agencies are 250 KB). Version 2 bundles (the federation inline) and version 1 (texts inline
too) are still read, so older ledgers replay.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from alprfed import canonical
from alprfed.canonical import JSONValue
from alprfed.config import CourtConfig, CourtKind, FederationConfig
from alprfed.errors import ConfigError
from alprfed.ledger.entry import MAX_BODY_BYTES
from alprfed.models import Agency, AgencyId, AgencyKind
from alprfed.policy.decision import Gates
from alprfed.signing import VerifyingKey

BUNDLE_VERSION = 3
FEDERATION_INLINE_VERSION = 2  # the federation inline: before federations outgrew one entry
INLINE_BUNDLE_VERSION = 1  # documents inline: written before the packs outgrew one entry
# The federation's path among a version 3 bundle's documents; no file under policies/ has it.
FEDERATION_DOCUMENT = "federation.json"
# What of policies/ is policy: Casbin files and the federation agreement at the top, one law
# pack per state below.
POLICY_GLOBS = ("model.conf", "policy.csv", "federation.toml", "states/*.toml")


def read_policy_documents(policies_dir: Path) -> dict[str, str]:
    """Relative path -> text of every policy document. Raises: ConfigError."""
    documents: dict[str, str] = {}
    for pattern in POLICY_GLOBS:
        for path in sorted(policies_dir.glob(pattern)):
            try:
                documents[path.relative_to(policies_dir).as_posix()] = path.read_text("utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"cannot read policy document {path}: {exc}") from None
    if "model.conf" not in documents or "policy.csv" not in documents:
        raise ConfigError(f"{policies_dir} lacks model.conf or policy.csv")
    return documents


def federation_to_canonical(federation: FederationConfig) -> dict[str, JSONValue]:
    return {
        "name": federation.name,
        "origin": federation.origin,
        "gateway_key": federation.gateway_key.to_text(),
        "exigent_enabled": federation.exigent_enabled,
        "exigent_lookback_seconds": federation.exigent_lookback_seconds,
        "agencies": [
            {
                "id": a.agency_id,
                "name": a.name,
                "state": a.state,
                "kind": a.kind.value,
                "node_address": a.node_address,
                "node_key": VerifyingKey(a.node_key).to_text() if a.node_key else "",
                "declarations": sorted(a.declarations_on_file),
            }
            for a in federation.agencies.values()
        ],
        "courts": [
            {
                "id": c.court_id,
                "name": c.name,
                "key": c.key.to_text(),
                "kind": c.kind.value,
                "states": sorted(c.states),
            }
            for c in federation.courts.values()
        ],
    }


def federation_from_canonical(value: Mapping[str, Any]) -> FederationConfig:
    agencies: dict[str, Agency] = {
        a["id"]: Agency(
            agency_id=AgencyId(a["id"]),
            name=a["name"],
            state=a["state"],
            kind=AgencyKind(a["kind"]),
            node_address=a["node_address"],
            node_key=VerifyingKey.from_text(a["node_key"]).raw if a["node_key"] else b"",
            declarations_on_file=frozenset(a["declarations"]),
        )
        for a in value["agencies"]
    }
    courts = {
        c["id"]: CourtConfig(
            c["id"],
            c["name"],
            VerifyingKey.from_text(c["key"]),
            frozenset(c["states"]),
            # Bundles published before courts had a kind read as state courts: the narrower
            # jurisdiction (docs/LEDGER.md, policy_bundle).
            CourtKind(c.get("kind", CourtKind.STATE.value)),
        )
        for c in value["courts"]
    }
    return FederationConfig(
        name=value["name"],
        origin=value["origin"],
        gateway_key=VerifyingKey.from_text(value["gateway_key"]),
        agencies=agencies,
        courts=courts,
        exigent_enabled=value["exigent_enabled"],
        exigent_lookback_seconds=value["exigent_lookback_seconds"],
    )


def text_sha256(text: str) -> str:
    """What a bundle records for a document: the hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# A document's text goes into parts of at most this many characters, fewer where its canonical
# JSON would outgrow an entry (escapes such as \u0007 take 6 bytes for one character).
MAX_PART_CHARS = 32_768


def document_bodies(path: str, text: str) -> list[dict[str, JSONValue]]:
    """The bodies of the ``policy_document`` entries publishing one document, in order.

    Most documents are one part. One too large for an entry (a Casbin policy of thousands of
    officers) is cut into parts, each carrying the whole text's hash, its place and the count:
    ``{"path", "sha256", "part", "parts", "text"}``; the parts' texts joined are the document.
    """
    sha256 = text_sha256(text)
    pieces: list[str] = []
    rest = text
    while True:
        size = min(len(rest), MAX_PART_CHARS)
        # The body's other fields are fixed, so a piece that fits with "part": 0 fits anywhere.
        while size > 1 and _body_size(path, sha256, rest[:size]) > MAX_BODY_BYTES:
            size //= 2
        pieces.append(rest[:size])
        rest = rest[size:]
        if not rest:
            break
    return [
        {"path": path, "sha256": sha256, "part": i, "parts": len(pieces), "text": piece}
        for i, piece in enumerate(pieces)
    ]


def joined_document(path: str, parts: Sequence[Mapping[str, Any] | None]) -> str | None:
    """The text that ``policy_document`` bodies ``parts`` (as a bundle names them, in order;
    None for one not found) hold for ``path``: every part of one document (same path, hash
    and count), joined; None if any is missing or wrong. The caller checks the joined text
    against the bundle's hash."""
    found = [p for p in parts if p is not None]
    if not found or len(found) != len(parts):
        return None
    expected = [(path, found[0]["sha256"], n, len(found)) for n in range(len(found))]
    if [(p["path"], p["sha256"], p["part"], p["parts"]) for p in found] != expected:
        return None
    return "".join(str(p["text"]) for p in found)


def _body_size(path: str, sha256: str, piece: str) -> int:
    body = {"path": path, "sha256": sha256, "part": 0, "parts": 0, "text": piece}
    return len(canonical.encode(body)) + 16  # room for larger part numbers


@dataclass(frozen=True)
class PolicyBundle:
    """Every policy document's text by relative path, and the federation, with its digest."""

    documents: Mapping[str, str]
    federation: Mapping[str, JSONValue]
    version: int = BUNDLE_VERSION
    digest: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "digest", hashlib.sha256(canonical.encode(self.to_canonical())).hexdigest()
        )

    def published_texts(self) -> dict[str, str]:
        """Path -> text of every ``policy_document`` the bundle names: the policy documents
        and, from version 3, the federation as FEDERATION_DOCUMENT."""
        texts = dict(self.documents)
        if self.version >= BUNDLE_VERSION:
            texts[FEDERATION_DOCUMENT] = federation_text(self.federation)
        return texts

    def document_hashes(self) -> dict[str, str]:
        return {path: text_sha256(text) for path, text in self.published_texts().items()}

    def to_canonical(self) -> dict[str, JSONValue]:
        """The form the digest covers and the ``policy_bundle`` entry carries."""
        if self.version == INLINE_BUNDLE_VERSION:
            documents: dict[str, JSONValue] = dict(self.documents)
        else:
            documents = dict(self.document_hashes())
        if self.version >= BUNDLE_VERSION:
            return {"v": self.version, "documents": documents}
        return {"v": self.version, "documents": documents, "federation": dict(self.federation)}

    @classmethod
    def from_canonical(
        cls, value: JSONValue, texts: Mapping[str, str] | None = None
    ) -> PolicyBundle:
        """Rebuild a published bundle. From version 2 it needs ``texts`` (path -> text) of
        its documents, as published in their ``policy_document`` entries.

        Raises:
            ConfigError: a bundle this code cannot read, or a text missing or not matching the
                hash the bundle records for it.
        """
        if not isinstance(value, dict) or not isinstance(value.get("documents"), dict):
            raise ConfigError("not a policy bundle")
        version = value.get("v")
        if version not in (INLINE_BUNDLE_VERSION, FEDERATION_INLINE_VERSION, BUNDLE_VERSION):
            raise ConfigError(f"policy bundle version {version!r} is not one this code reads")
        if version == INLINE_BUNDLE_VERSION:
            return cls(value["documents"], _inline_federation(value), version=version)
        texts = texts or {}
        resolved: dict[str, str] = {}
        for path, sha256 in value["documents"].items():
            text = texts.get(path)
            if text is None or text_sha256(text) != sha256:
                raise ConfigError(f"policy document {path} ({str(sha256)[:16]}) was not published")
            resolved[path] = text
        if version == FEDERATION_INLINE_VERSION:
            return cls(resolved, _inline_federation(value), version=version)
        if FEDERATION_DOCUMENT not in resolved:
            raise ConfigError("not a policy bundle: no federation")
        return cls(resolved, parse_federation_text(resolved.pop(FEDERATION_DOCUMENT)))

    def federation_config(self) -> FederationConfig:
        return federation_from_canonical(self.federation)

    @staticmethod
    def logged_federation(
        value: JSONValue, texts: Mapping[str, str] | None = None
    ) -> FederationConfig:
        """The federation of a published bundle, without its other documents: for a reader
        that needs only the members. A version 3 bundle needs ``texts`` to hold the
        FEDERATION_DOCUMENT's published text.

        Raises:
            ConfigError: not a policy bundle, or its federation text missing or not matching.
        """
        if not isinstance(value, dict) or not isinstance(value.get("documents"), dict):
            raise ConfigError("not a policy bundle")
        if value.get("v") != BUNDLE_VERSION:
            return federation_from_canonical(_inline_federation(value))
        text = (texts or {}).get(FEDERATION_DOCUMENT)
        if text is None or text_sha256(text) != value["documents"].get(FEDERATION_DOCUMENT):
            raise ConfigError("the bundle's federation was not published")
        return federation_from_canonical(parse_federation_text(text))


def federation_text(federation: Mapping[str, JSONValue]) -> str:
    """The federation as a version 3 bundle publishes it: its canonical JSON."""
    return canonical.encode(dict(federation)).decode("utf-8")


def parse_federation_text(text: str) -> dict[str, JSONValue]:
    """Raises: ConfigError when ``text`` is not a federation object in canonical JSON."""
    try:
        value = canonical.decode(text.encode("utf-8"))
    except canonical.CanonicalError as exc:
        raise ConfigError(f"the bundle's federation is not canonical JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError("not a policy bundle: no federation")
    return value


def _inline_federation(value: Mapping[str, Any]) -> dict[str, JSONValue]:
    federation = value.get("federation")
    if not isinstance(federation, dict):
        raise ConfigError("not a policy bundle: no federation")
    return federation


def build_bundle(policies_dir: Path, federation: FederationConfig) -> PolicyBundle:
    return PolicyBundle(read_policy_documents(policies_dir), federation_to_canonical(federation))


@dataclass(frozen=True)
class LoadedPolicy:
    """A bundle made executable: the gates, plus the Casbin policy for other RPCs."""

    bundle: PolicyBundle
    federation: FederationConfig
    gates: Gates
    access: Any  # alprfed.policy.access.AccessPolicy


def load_policy(bundle: PolicyBundle) -> LoadedPolicy:
    """Load Casbin and the law book from the bundle's own bytes. Raises: ConfigError."""
    from alprfed.law import load_law_book
    from alprfed.policy.access import AccessPolicy

    federation = bundle.federation_config()
    with tempfile.TemporaryDirectory(prefix="alprfed-policy-") as tmp:
        root = Path(tmp)
        for relative, text in bundle.documents.items():
            target = (root / relative).resolve()
            if root.resolve() not in target.parents:
                raise ConfigError(f"policy document path {relative!r} escapes the bundle")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, "utf-8")
        access = AccessPolicy.load(root)
        law = load_law_book(root)
    gates = Gates(
        access=access,
        law=law,
        agencies=federation.agencies,
        courts=federation.courts,
        exigent_enabled=federation.exigent_enabled,
        exigent_lookback_seconds=federation.exigent_lookback_seconds,
    )
    return LoadedPolicy(bundle, federation, gates, access)
