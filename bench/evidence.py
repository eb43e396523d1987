"""Evidence for benchmark queries sent straight to nodes, built the way the gateway builds it.

A node answers only a query whose decision is in a witnessed checkpoint (docs/TRUST.md). The
benchmark plays the gateway's ledger side: a real ledger with the layout's ledger key, the
court's warrant registered in it, one decision entry per query, cosignatures from three
witness keys (quorum 2, the node's policy, written over the layout's), and the evidence bundle
from gateway.evidence.build_evidence. Built before the clock starts: what is timed is the
node's verification and search, not the ledger's appends.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence
from pathlib import Path

from alprfed import canonical
from alprfed.clock import SYSTEM_CLOCK
from alprfed.demo.layout import Layout
from alprfed.ledger import LedgerStore, PendingEntry
from alprfed.ledger.cosignature import CosignatureSigner, add_signature_lines
from alprfed.ledger.note import NoteVerifier, parse_note
from alprfed.messages import SearchQuery
from alprfed.models import TimeWindow
from alprfed.policy.warrants import Warrant
from alprfed.signing import WARRANT_TYPE, Envelope, SigningKey
from gateway.evidence import build_evidence

WITNESSES = 3
QUORUM = 2
DAY = 86_400
WARRANT_REACH_S = 400 * DAY


def layout_cosigners(layout: Layout) -> list[CosignatureSigner]:
    """The layout's witnesses, as cosigners with their own keys (their names and key files as
    ``alprfed.demo.layout`` writes them)."""
    return [
        CosignatureSigner(
            witness.name,
            SigningKey.load(layout.witness_config(witness.witness_id).parent / "witness-key.pem"),
        )
        for witness in layout.spec.witnesses
    ]


class BenchAuthority:
    def __init__(
        self,
        layout: Layout,
        directory: Path,
        *,
        witnessed: bool = True,
        warrant_window: TimeWindow | None = None,
        cosigners: Sequence[CosignatureSigner] = (),
    ) -> None:
        """``witnessed`` writes the layout's witness policy (3 witnesses, quorum 2) for nodes
        not started yet; without it the layout's policy (no witnesses) stands. ``cosigners``
        (``layout_cosigners``): cosign with the layout's own witness keys instead, so nodes
        already serving under its policy accept the evidence and nothing is rewritten.
        ``warrant_window``: what every warrant covers (default: the WARRANT_REACH_S to now)."""
        spec = layout.spec
        self._warrant_window = warrant_window
        ledger_key = SigningKey.load(layout.root / "keys" / "ledger.pem")
        self._court = spec.courts[0].court_id
        self._court_key = SigningKey.load(layout.court_key(self._court))
        directory.mkdir(parents=True, exist_ok=True)
        self._store = LedgerStore.open(
            f"sqlite:///{directory / 'bench-ledger.db'}",
            origin=spec.origin,
            signer=ledger_key,
            clock=SYSTEM_CLOCK,
        )
        self._witnesses = list(cosigners) or [
            CosignatureSigner(f"witness-{i}.bench.example/w", SigningKey.generate())
            for i in range(WITNESSES)
        ]
        vkey = NoteVerifier.for_key(spec.origin, ledger_key.public).to_vkey()
        members = " ".join(f"w{i}" for i in range(WITNESSES))
        if witnessed and not cosigners:
            layout.witness_policy.write_text(
                f"log {vkey}\n"
                + "".join(
                    f"witness w{i} {w.verifier.to_vkey()}\n" for i, w in enumerate(self._witnesses)
                )
                + f"group witnesses {QUORUM} {members}\nquorum witnesses\n"
            )
        self._warrants: dict[tuple[str, str], tuple[Envelope, int]] = {}

    def close(self) -> None:
        self._store.close()

    def _warrant(self, query: SearchQuery) -> tuple[Envelope, int]:
        key = (query.warrant_id or "", query.plate)
        if key not in self._warrants:
            # One warrant per plate (a warrant lists few plates), covering the past year.
            now = SYSTEM_CLOCK.now()
            warrant = Warrant(
                warrant_id=query.warrant_id or "",
                court=self._court,
                judge="Hon. Bench",
                issued_at=now,
                expires_at=now + 30 * DAY,
                agency=query.requester.agency_id,
                plates=(query.plate,),
                window=self._warrant_window or TimeWindow(now - WARRANT_REACH_S, now),
                offense=query.purpose,
                prospective=False,
                salt=secrets.token_hex(32),
            )
            envelope = self._court_key.sign_envelope(WARRANT_TYPE, warrant.to_canonical())
            (entry,) = self._store.append_batch(
                [
                    PendingEntry(
                        "warrant_registered",
                        {
                            "warrant_id": warrant.warrant_id,
                            "payload_sha256": hashlib.sha256(envelope.payload).hexdigest(),
                            "court_key_id": envelope.key_id,
                        },
                        warrant.plates,
                    )
                ]
            )
            self._warrants[key] = (envelope, entry.index)
        return self._warrants[key]

    def evidence(self, queries: Sequence[SearchQuery]) -> list[bytes]:
        """One evidence bundle (canonical bytes, as the gateway sends it) per query; the
        queries' decisions share one checkpoint (a batch of the ledger writer), so pass one
        query for a checkpoint of its own."""
        cited = [self._warrant(q) for q in queries]
        entries = self._store.append_batch(
            [
                PendingEntry("query_decision", _decision_body(q, w[1]), (q.plate,))
                for q, w in zip(queries, cited, strict=True)
            ]
        )
        note = entries[-1].checkpoint
        text, now = parse_note(note).text, SYSTEM_CLOCK.now()
        note = add_signature_lines(note, [w.signature_line(text, now) for w in self._witnesses])
        bundles = []
        for query, entry, (warrant, warrant_index) in zip(queries, entries, cited, strict=True):
            bundle = build_evidence(
                self._store,
                query_id=query.query_id,
                checkpoint=note,
                decision_index=entry.index,
                warrant=warrant,
                warrant_index=warrant_index,
            )
            bundles.append(canonical.encode(bundle.to_canonical()))
        return bundles


def _decision_body(query: SearchQuery, warrant_entry: int) -> dict[str, object]:
    return {
        "query_id": query.query_id,
        "requester": {
            "organization": query.requester.agency_id,
            "principal": query.requester.officer_id,
            "kind": "person",
            "verified": True,
        },
        "purpose": query.purpose.value,
        "case_number": query.case_number,
        "window": query.window.to_canonical(),
        "authority": "warrant",
        "warrant_id": query.warrant_id,
        "warrant_entry": warrant_entry,
        "decisions": [
            {"agency": a, "allowed": True, "refused_by": [], "rules_applied": []}
            for a in query.addressees
        ],
    }
