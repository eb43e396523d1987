"""The node's webhook receiver over real HTTPS, on SQLite and PostgreSQL: per-camera tokens and
client certificates, bound to their camera; bad bodies name the field and store nothing."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, credential

from agency_node.camera_tokens import CameraTokens, hash_token
from agency_node.csv_import import read_cameras_file
from agency_node.law_guard import NodeLawGuard
from agency_node.storage import NodeStore
from agency_node.webhook import WebhookReceiver
from alprfed.clock import FixedClock
from alprfed.config import TLSConfig, WebhookConfig, bundled_policies_dir
from alprfed.law import load_law_book
from alprfed.models import Camera, Position, SensitiveSite
from alprfed.signing import SigningKey

FIXTURES = Path(__file__).parents[2] / "fixtures" / "ingest"
VERKADA_CAMERA = "38718198-8a78-4718-a60f-68e1a8de30ac"
MAX_BODY = 64 * 1024


@dataclass
class Receiver:
    port: int
    tokens: CameraTokens
    database_url: str
    ca: Path

    def post(
        self,
        fmt: str,
        body: bytes,
        *,
        token: str | None = None,
        client: TLSConfig | None = None,
        content_type: str = "application/json",
    ) -> tuple[int, dict[str, Any], http.client.HTTPResponse]:
        context = ssl.create_default_context(cafile=str(self.ca))
        if client is not None:
            context.load_cert_chain(str(client.cert), str(client.key))
        connection = http.client.HTTPSConnection(
            "localhost", self.port, context=context, timeout=10
        )
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request("POST", f"/v1/webhooks/{fmt}", body=body, headers=headers)
            response = connection.getresponse()
            return response.status, json.loads(response.read()), response
        finally:
            connection.close()

    def count(self) -> int:
        with NodeStore.open(self.database_url) as store:
            return store.count_sightings()


def start_receiver(
    tmp_path: Path, pki_dir: Path, database_url: str, state: str, cameras: list[Camera]
) -> Iterator[Receiver]:
    tls = credential(pki_dir, "sjpd", "node")
    config = WebhookConfig(
        listen="localhost:0", tokens=tmp_path / "camera-tokens.json", max_body_bytes=MAX_BODY
    )
    store = NodeStore.open(database_url)
    store.upsert_cameras(cameras)
    law = NodeLawGuard(
        law_book=load_law_book(bundled_policies_dir()),
        agency_id="sjpd",
        state=state,
        configured_retention=30 * 86_400,
    )
    receiver = WebhookReceiver(
        config, tls, agency_id="sjpd", store=store, law=law, clock=FixedClock(NOW)
    )
    port = receiver.start()
    try:
        assert tls.ca is not None
        yield Receiver(port, CameraTokens(config.tokens), database_url, tls.ca)
    finally:
        receiver.stop()


FIXTURE_CAMERAS = read_cameras_file(FIXTURES / "cameras.csv")
CAM_1 = Camera("cam-1", "Camera with a federation certificate", Position(37_330_000, -121_880_000))


@pytest.fixture
def receiver(tmp_path: Path, pki_dir: Path, database_url: str) -> Iterator[Receiver]:
    yield from start_receiver(tmp_path, pki_dir, database_url, "CA", [*FIXTURE_CAMERAS, CAM_1])


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def verkada(**data: object) -> bytes:
    body = json.loads(fixture("verkada-lpr.json"))
    body["data"].update(data)
    return json.dumps(body).encode()


def test_a_camera_token_stores_its_reads_once_however_often_delivered(receiver: Receiver) -> None:
    token = receiver.tokens.issue(VERKADA_CAMERA, now=NOW).token

    first = receiver.post("verkada-lpr", fixture("verkada-lpr.json"), token=token)
    again = receiver.post("verkada-lpr", fixture("verkada-lpr.json"), token=token)

    assert first[:2] == (200, {"stored": 1, "duplicates_skipped": 0})
    assert again[:2] == (200, {"stored": 0, "duplicates_skipped": 1})
    assert receiver.count() == 1


def test_rekor_and_plate_recognizer_multipart_deliveries_are_stored(receiver: Receiver) -> None:
    rekor = receiver.tokens.issue("1234", now=NOW).token
    stream = receiver.tokens.issue("camera-1", now=NOW).token
    boundary = "alprfedboundary"
    multipart = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="json"\r\n\r\n'.encode()
        + fixture("platerecognizer-webhook.json")
        + f'\r\n--{boundary}\r\nContent-Disposition: form-data; name="upload"; '
        f'filename="frame.jpg"\r\nContent-Type: image/jpeg\r\n\r\n'.encode()
        + b"\xff\xd8\xff\xe0 not really a jpeg"
        + f"\r\n--{boundary}--\r\n".encode()
    )

    grouped = receiver.post("rekor-alpr-group", fixture("rekor-alpr-group.json"), token=rekor)
    streamed = receiver.post(
        "platerecognizer-webhook",
        multipart,
        token=stream,
        content_type=f"multipart/form-data; boundary={boundary}",
    )

    assert grouped[:2] == (200, {"stored": 1, "duplicates_skipped": 0})
    assert streamed[:2] == (200, {"stored": 2, "duplicates_skipped": 0})
    assert receiver.count() == 3


def test_the_token_file_holds_only_hashes(receiver: Receiver, tmp_path: Path) -> None:
    token = receiver.tokens.issue(VERKADA_CAMERA, now=NOW).token
    stored = (tmp_path / "camera-tokens.json").read_text()
    assert token not in stored
    assert hash_token(token) in stored
    assert (tmp_path / "camera-tokens.json").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "attack", ["no_token", "guessed_token", "revoked_token", "other_agencys_camera_certificate"]
)
def test_unauthenticated_deliveries_are_refused_and_learn_nothing(
    receiver: Receiver, pki_dir: Path, attack: str
) -> None:
    token: str | None = None
    client = None
    if attack == "guessed_token":
        receiver.tokens.issue(VERKADA_CAMERA, now=NOW)
        token = "alprfed-cam_" + "A" * 43
    elif attack == "revoked_token":
        token = receiver.tokens.issue(VERKADA_CAMERA, now=NOW).token
        receiver.tokens.revoke(VERKADA_CAMERA)
    elif attack == "other_agencys_camera_certificate":
        client = credential(pki_dir, "chicago-pd", "cam-1")

    status, body, response = receiver.post(
        "verkada-lpr", verkada(camera_id="cam-1"), token=token, client=client
    )

    assert (status, body) == (401, {"error": "authentication required"})
    assert response.getheader("WWW-Authenticate") == 'Bearer realm="alprfed-node"'
    assert receiver.count() == 0


def test_a_camera_certificate_authenticates_its_own_camera(
    receiver: Receiver, pki_dir: Path
) -> None:
    own = credential(pki_dir, "sjpd", "cam-1")

    status, body, _ = receiver.post("verkada-lpr", verkada(camera_id="cam-1"), client=own)

    assert (status, body) == (200, {"stored": 1, "duplicates_skipped": 0})


def test_a_token_is_bound_to_its_camera(receiver: Receiver, pki_dir: Path) -> None:
    token = receiver.tokens.issue("camera-1", now=NOW).token
    own_certificate = credential(pki_dir, "sjpd", "cam-1")

    by_token = receiver.post("verkada-lpr", fixture("verkada-lpr.json"), token=token)
    by_certificate = receiver.post("verkada-lpr", verkada(), client=own_certificate)

    for status, body, _ in (by_token, by_certificate):
        assert status == 403
        assert body["field"] == "data.camera_id"
        assert "a camera may post only its own reads" in body["error"]
    assert receiver.count() == 0


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        (verkada(created="yesterday"), 400, "data.created"),
        (verkada(license_plate_number="8XY#345"), 400, "data.license_plate_number"),
        (verkada(license_plate_state="gb"), 400, "data.license_plate_state"),
        (b'{"webhook_type": "lpr", "data": ', 400, "body"),
        (verkada(created=NOW + 86_400), 422, ""),  # a read from tomorrow
        (b"[" * 40 + b"]" * 40, 400, "body"),
        (verkada(image_url="x" * MAX_BODY), 413, "body"),
    ],
    ids=["bad_time", "bad_plate", "foreign_state", "truncated", "future", "not_an_object", "huge"],
)
def test_bad_bodies_name_the_field_and_store_nothing(
    receiver: Receiver, body: bytes, status: int, field: str
) -> None:
    token = receiver.tokens.issue(VERKADA_CAMERA, now=NOW).token

    answer_status, answer, _ = receiver.post("verkada-lpr", body, token=token)

    assert answer_status == status, answer
    assert answer.get("field", "") == field
    assert answer["error"]
    assert receiver.count() == 0


def test_wrong_format_and_content_type_are_refused(receiver: Receiver) -> None:
    token = receiver.tokens.issue(VERKADA_CAMERA, now=NOW).token
    body = fixture("verkada-lpr.json")
    assert receiver.post("platerecognizer-csv", body, token=token)[0] == 404
    assert receiver.post("verkada-lpr", body, token=token, content_type="text/plain")[0] == 415
    assert receiver.count() == 0


def test_washington_refuses_reads_from_a_camera_at_a_school(
    tmp_path: Path, pki_dir: Path, database_url: str
) -> None:
    school = Camera("38718198-8a78-4718-a60f-68e1a8de30ac", "Garage by the school",
                    Position(37_409_900, -121_948_800), SensitiveSite.SCHOOL)  # fmt: skip
    for wa in start_receiver(tmp_path, pki_dir, database_url, "WA", [school]):
        token = wa.tokens.issue(school.camera_id, now=NOW).token
        status, body, _ = wa.post("verkada-lpr", fixture("verkada-lpr.json"), token=token)
        assert status == 422
        assert "registered at a school site" in body["error"]
        assert "WA-6002-sensitive-sites (WA, ESSB 6002 (2026))" in body["error"]
        assert wa.count() == 0


@pytest.mark.parametrize(
    ("table", "named"),
    [
        ('listen = "localhost:0"\n', "tokens"),
        ('tokens = "t.json"\n', "listen"),
        ('listen = "localhost:0"\ntokens = "t.json"\nlisten_port = 1\n', "listen_port"),
        ('listen = "localhost:0"\ntokens = "t.json"\nmax_body_bytes = 0\n', "max_body_bytes"),
    ],
    ids=["no_tokens", "no_listen", "misspelt_key", "no_body_allowed"],
)
def test_a_bad_webhook_table_is_one_error_naming_the_key(
    tmp_path: Path, table: str, named: str
) -> None:
    from alprfed.config import load_node_config
    from alprfed.errors import ConfigError

    path = tmp_path / "node.toml"
    path.write_text(
        '[node]\nagency_id = "sjpd"\nstate = "CA"\ndatabase_url = "sqlite:///n.db"\n'
        'signing_key = "k.pem"\n'
        f'gateway_key = "{SigningKey.generate().public.to_text()}"\n[webhook]\n{table}'
    )
    with pytest.raises(ConfigError, match=named):
        load_node_config(path, insecure=True)


def test_token_commands_issue_list_and_revoke(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from alprfed.cli.main import cli

    path = tmp_path / "node.toml"
    node_table = (
        '[node]\nagency_id = "sjpd"\nstate = "CA"\ndatabase_url = "sqlite:///n.db"\n'
        f'signing_key = "k.pem"\ngateway_key = "{SigningKey.generate().public.to_text()}"\n'
    )
    path.write_text(node_table)
    without = CliRunner().invoke(cli, ["node", "token", "issue", "cam-1", "--config", str(path)])
    path.write_text(node_table + '[webhook]\nlisten = "localhost:0"\ntokens = "t.json"\n')
    issued = CliRunner().invoke(cli, ["node", "token", "issue", "cam-1", "--config", str(path)])
    tokens = CameraTokens(tmp_path / "t.json")
    before = tokens.camera_for(issued.stdout.strip())
    listed = CliRunner().invoke(cli, ["node", "token", "list", "--config", str(path)])
    revoked = CliRunner().invoke(cli, ["node", "token", "revoke", "cam-1", "--config", str(path)])
    again = CliRunner().invoke(cli, ["node", "token", "revoke", "cam-1", "--config", str(path)])

    assert without.exit_code == 1
    assert "no [webhook] table" in without.stderr
    assert issued.exit_code == 0
    assert before == "cam-1"
    assert tokens.camera_for(issued.stdout.strip()) is None  # revoked: the file is re-read
    assert listed.stdout.startswith("cam-1  issued ")
    assert revoked.exit_code == 0
    assert again.exit_code == 1
    assert "camera 'cam-1' has no webhook token" in again.stderr


def test_reissuing_a_token_retires_the_old_one_at_once(tmp_path: Path) -> None:
    tokens = CameraTokens(tmp_path / "t.json")
    old = tokens.issue("cam-1", now=NOW).token
    assert tokens.camera_for(old) == "cam-1"  # now cached

    new = CameraTokens(tmp_path / "t.json").issue("cam-1", now=NOW).token  # same file size

    assert tokens.camera_for(old) is None
    assert tokens.camera_for(new) == "cam-1"
