"""Fuzz every file format alprfed reads: configs, trust and witness files, law packs, CSV
imports, checkpoints, receipts, ledger entries, monitor state and every signed payload.

Each format starts from a real, valid document (from a real federation layout or the bundled
policies) and hypothesis flips, cuts, splices and replaces its bytes. Reading may succeed or
fail with an alprfed error (one line for its caller); any other exception is a crash the CLI
would show as a traceback. CI tries a few thousand inputs; ``--soak`` 1,000,000, each
hypothesis example faults.FUZZ_BATCH of them, each read and judged on its own.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import faults
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agency_node.csv_import import check_import
from agency_node.law_guard import ObservationBounds
from agency_node.storage import NodeStore
from agency_node.trust import load_node_trust
from alprfed import canonical
from alprfed.clock import FixedClock
from alprfed.config import (
    bundled_policies_dir,
    load_federation,
    load_gateway_config,
    load_node_config,
)
from alprfed.demo.layout import Layout
from alprfed.errors import AlprfedError
from alprfed.law.loader import parse_pack
from alprfed.ledger import LedgerStore, PendingEntry
from alprfed.ledger.checkpoint import open_checkpoint
from alprfed.ledger.entry import decode_entry
from alprfed.ledger.monitor import MonitorState
from alprfed.ledger.note import NoteVerifier
from alprfed.ledger.tiles import parse_tile_path
from alprfed.ledger.tlog_proof import verify_tlog_proof
from alprfed.ledger.verify import verify_ledger
from alprfed.ledger.witness_policy import WitnessPolicy
from alprfed.messages import PurgeReport
from alprfed.messages.consent import ExigentConsent
from alprfed.messages.evidence import SearchEvidence
from alprfed.messages.search import SearchQuery, SearchReceipt
from alprfed.models import Purpose, TimeWindow
from alprfed.policy.warrants import Warrant, WarrantLimits
from alprfed.signing import SigningKey, VerifyingKey
from witness.config import load_witness_config

NOW = 1_764_000_000
ORIGIN = "fuzz.alprfed.test/ledger"
SIGHTINGS = (
    "plate,plate_state,observed_at,camera_id,latitude,longitude,confidence,vehicle_make\n"
    "8FXR413,CA,2025-11-20T08:00:00Z,cam-1,37.33,-121.88,0.97,Honda\n"
    "7ABC123,CA,1763600000,cam-1,37.330001,-121.880001,0.5,\n"
)
CAMERAS = "camera_id,name,latitude,longitude,sensitive_site\ncam-1,First & Main,37.33,-121.88,\n"


@dataclass
class Format:
    name: str
    seed: bytes
    read: Callable[[bytes], object]
    valid_seed: bool = True  # False: a bare shape to start from, not a whole document


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    return faults.small_layout(tmp_path_factory.mktemp("fuzz-files") / "fed", witnesses=True)


def _beside(original: Path, reader: Callable[[Path], object]) -> Callable[[bytes], object]:
    """Read fuzzed bytes from a file beside ``original`` (so its relative paths resolve)."""
    target = original.with_name("fuzzed-" + original.name)

    def read(data: bytes) -> object:
        target.write_bytes(data)
        return reader(target)

    return read


def _text(parse: Callable[[str], object]) -> Callable[[bytes], object]:
    return lambda data: parse(data.decode("utf-8", "replace"))


def _payload(parse: Callable[[object], object]) -> Callable[[bytes], object]:
    return lambda data: parse(canonical.decode(data))


@pytest.fixture(scope="module")
def formats(layout: Layout, tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Format]]:
    work = tmp_path_factory.mktemp("fuzz-file-inputs")
    key = SigningKey.generate()
    verifier = NoteVerifier.for_key(ORIGIN, key.public)
    ledger = LedgerStore.open(
        f"sqlite:///{work / 'ledger.db'}", origin=ORIGIN, signer=key, clock=FixedClock(NOW)
    )
    ledger.append_batch([PendingEntry("query_decision", {"query_id": "q-1"}, ("8FXR413",))])
    entry, note, receipt = ledger.entries(0, 1)[0], ledger.latest_checkpoint(), ledger.tlog_proof(0)
    state = work / "monitor.json"
    verify_ledger(ledger, [verifier], state_file=state)
    ledger.close()
    node_store = NodeStore.open(f"sqlite:///{work / 'node.db'}")
    sightings, cameras = work / "sightings.csv", work / "cameras.csv"
    cameras.write_text(CAMERAS)
    bounds = ObservationBounds(oldest=NOW - 400 * 86_400, newest=NOW)

    def read_sightings(data: bytes) -> object:
        sightings.write_bytes(data)
        return check_import(node_store, sightings, cameras, bounds=bounds)

    def read_cameras(data: bytes) -> object:
        cameras.write_bytes(data)
        try:
            sightings.write_text(SIGHTINGS)
            return check_import(node_store, sightings, cameras, bounds=bounds)
        finally:
            cameras.write_text(CAMERAS)

    pack = bundled_policies_dir() / "states" / "CA.toml"
    warrant = Warrant(
        warrant_id="w-1",
        court="santa-clara-superior",
        judge="Hon. A. Rivera",
        issued_at=NOW - 60,
        expires_at=NOW + 86_400,
        agency="sjpd",
        plates=("8FXR413",),
        window=TimeWindow(NOW - 600, NOW - 120),
        offense=Purpose.ROBBERY,
        limits=WarrantLimits(),
        salt="00" * 32,
        prospective=False,
    )
    purge = PurgeReport("sjpd", "CA", NOW - 86_400, 86_400, 3, NOW)
    witness_configs = sorted((layout.root / "witnesses").glob("*/witness.toml"))
    found = [
        Format(
            "node.toml",
            layout.node_config("sjpd").read_bytes(),
            _beside(layout.node_config("sjpd"), load_node_config),
        ),
        Format(
            "gateway.toml",
            layout.gateway_config.read_bytes(),
            _beside(layout.gateway_config, load_gateway_config),
        ),
        Format(
            "federation.toml",
            layout.federation_file.read_bytes(),
            _beside(layout.federation_file, load_federation),
        ),
        Format(
            "trust.toml",
            (layout.node_config("sjpd").parent / "trust.toml").read_bytes(),
            _beside(layout.node_config("sjpd").parent / "trust.toml", load_node_trust),
        ),
        Format("witness policy", layout.witness_policy.read_bytes(), _text(WitnessPolicy.parse)),
        Format(
            "law pack",
            pack.read_bytes(),
            lambda data: parse_pack(
                data, where="CA.toml", expected_state="CA", file_name="CA.toml"
            ),
        ),
        Format("sightings.csv", SIGHTINGS.encode(), read_sightings),
        Format("cameras.csv", CAMERAS.encode(), read_cameras),
        Format(
            "checkpoint",
            note.encode(),
            _text(lambda text: open_checkpoint(text, [verifier], origin=ORIGIN)),
        ),
        Format(
            "tlog-proof receipt",
            receipt.encode(),
            _text(lambda text: verify_tlog_proof(text, [verifier], origin=ORIGIN)),
        ),
        Format("ledger entry", entry, decode_entry),
        Format("monitor state", state.read_bytes(), _beside(state, MonitorState.load)),
        Format("tile path", b"tile/0/x001/234.p/5", _text(parse_tile_path)),
        Format("canonical JSON", canonical.encode({"a": [1, "b", None, True]}), canonical.decode),
        Format(
            "warrant", canonical.encode(warrant.to_canonical()), _payload(Warrant.from_canonical)
        ),  # type: ignore[arg-type]
        Format(
            "purge report",
            canonical.encode(purge.to_canonical()),
            _payload(PurgeReport.from_canonical),
        ),  # type: ignore[arg-type]
        Format("search query", b'{"v":1}', _payload(SearchQuery.from_canonical), False),  # type: ignore[arg-type]
        Format("search receipt", b'{"v":1}', _payload(SearchReceipt.from_canonical), False),  # type: ignore[arg-type]
        Format("search evidence", b'{"v":1}', _payload(SearchEvidence.from_canonical), False),  # type: ignore[arg-type]
        Format("exigent consent", b'{"v":1}', _payload(ExigentConsent.from_canonical), False),  # type: ignore[arg-type]
        Format(
            "base64 key",
            base64.b64encode(key.public.raw),
            _text(lambda text: VerifyingKey.from_text("ed25519:" + text)),
        ),
    ]
    found.append(
        Format(
            "witness.toml",
            witness_configs[0].read_bytes(),
            _beside(witness_configs[0], load_witness_config),
        )
    )
    yield found
    node_store.close()


def variants(seed: bytes) -> st.SearchStrategy[bytes]:
    """The seed with bytes flipped, lines dropped or repeated, pieces spliced in or cut."""
    positions = st.integers(0, max(len(seed) - 1, 0))
    lines = seed.split(b"\n")

    def flip(changes: list[tuple[int, int]]) -> bytes:
        out = bytearray(seed)
        for position, value in changes:
            if out:
                out[position] = value
        return bytes(out)

    def drop(which: list[int]) -> bytes:
        return b"\n".join(line for i, line in enumerate(lines) if i not in set(which))

    def splice(at: int, piece: bytes) -> bytes:
        return seed[:at] + piece + seed[at:]

    tokens = st.sampled_from(
        [
            b"\x00",
            b"\xff\xfe",
            b'"',
            b"[",
            b"]]",
            b"=",
            b"\n",
            b"9" * 30,
            b"-1",
            b"0",
            b"1e999",
            b"\xc3",
            b"{",
            b"}",
            b",",
            b"null",
            b"true",
            b"\r\n",
            b"\t",
            b"'''",
            b"ed25519:",
        ]
    )
    return st.one_of(
        st.lists(st.tuples(positions, st.integers(0, 255)), min_size=1, max_size=8).map(flip),
        st.lists(st.integers(0, max(len(lines) - 1, 0)), min_size=1, max_size=3).map(drop),
        st.builds(splice, positions, st.one_of(tokens, st.binary(max_size=16))),
        st.integers(0, len(seed)).map(lambda n: seed[:n]),
        st.binary(max_size=200),
    )


def fuzzer(fmt: Format, inputs: int, soak: bool) -> Callable[[], None]:
    @settings(
        max_examples=faults.fuzz_examples(inputs),
        deadline=None,
        database=None,
        derandomize=not soak,  # CI reads the same inputs each time; a soak run explores
        suppress_health_check=list(HealthCheck),
        print_blob=True,  # a failure found exploring prints the line that replays it
    )
    @given(
        batch=st.lists(variants(fmt.seed), min_size=faults.FUZZ_BATCH, max_size=faults.FUZZ_BATCH)
    )
    def fuzz(batch: list[bytes]) -> None:
        for data in batch:
            faults.add(fuzz_inputs=1)
            try:
                fmt.read(data)
            except AlprfedError as exc:
                # A named error is what a caller should get, and the CLI prints it as one line.
                if len(str(exc).splitlines()) > 1:
                    raise AssertionError(f"{fmt.name}: an error of several lines: {exc!r}") from exc
            except Exception as exc:
                raise AssertionError(f"{fmt.name}: {type(exc).__name__}: {exc}") from exc

    return fuzz  # type: ignore[no-any-return]


# Every format the fixture builds, by name, so a soak run can share them out (-k) between
# processes; the test below checks the list is the fixture's.
FORMAT_NAMES = (
    "node.toml",
    "gateway.toml",
    "federation.toml",
    "trust.toml",
    "witness policy",
    "law pack",
    "sightings.csv",
    "cameras.csv",
    "checkpoint",
    "tlog-proof receipt",
    "ledger entry",
    "monitor state",
    "tile path",
    "canonical JSON",
    "warrant",
    "purge report",
    "search query",
    "search receipt",
    "search evidence",
    "exigent consent",
    "base64 key",
    "witness.toml",
)


@pytest.mark.parametrize("name", FORMAT_NAMES, ids=[n.replace(" ", "-") for n in FORMAT_NAMES])
def test_every_file_format_reads_or_names_what_is_wrong(
    name: str, formats: list[Format], fuzz_inputs: int, soak: bool
) -> None:
    assert [f.name for f in formats] == list(FORMAT_NAMES), "FORMAT_NAMES is not the fixture's"
    fmt = next(f for f in formats if f.name == name)
    if fmt.valid_seed:
        fmt.read(fmt.seed)  # the seed itself is a valid document
    try:
        fuzzer(fmt, max(1, fuzz_inputs // len(formats)), soak)()
    except AssertionError as exc:
        # Counted once, after hypothesis has shrunk it (not once per shrinking step).
        faults.add(crashes=1, tracebacks=1)
        raise AssertionError(str(exc).splitlines()[0]) from exc
