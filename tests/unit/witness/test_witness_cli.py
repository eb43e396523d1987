"""`alprfed witness keygen | vkey | serve`: keys, vkeys and one-line errors."""

from __future__ import annotations

import base64
import json
import stat
from pathlib import Path

from click.testing import CliRunner
from witnesses import WITNESS_NAME

from alprfed.cli.main import cli
from alprfed.ledger.cosignature import SIGNATURE_TYPE_COSIGNATURE_V1, CosignatureVerifier
from alprfed.signing import SigningKey


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def test_keygen_writes_a_private_key_and_prints_its_witness_vkey(tmp_path: Path) -> None:
    out = tmp_path / "witness-key.pem"
    code, output = _run("witness", "keygen", "--name", WITNESS_NAME, "--out", str(out))
    assert code == 0, output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    verifier = CosignatureVerifier.from_vkey(output.strip())
    assert verifier.name == WITNESS_NAME
    assert verifier.public_key == SigningKey.load(out).public
    material = base64.b64decode(output.strip().split("+", 2)[2])
    assert material[0] == SIGNATURE_TYPE_COSIGNATURE_V1 == 0x04  # a cosignature/v1 key
    code, again = _run("witness", "vkey", "--key", str(out), "--name", WITNESS_NAME)
    assert (code, again) == (0, output)


def test_keygen_never_overwrites_a_key(tmp_path: Path) -> None:
    out = tmp_path / "witness-key.pem"
    out.write_text("precious")
    code, output = _run("witness", "keygen", "--name", WITNESS_NAME, "--out", str(out))
    assert code == 1
    assert "refusing to overwrite" in output
    assert out.read_text() == "precious"


def test_a_name_that_cannot_be_a_key_name_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "k.pem"
    code, output = _run("witness", "keygen", "--name", "two words", "--out", str(out))
    assert code == 1
    assert "--name" in output
    assert "Traceback" not in output
    assert not out.exists()


def test_serve_with_a_bad_config_is_one_line_and_exit_1(tmp_path: Path) -> None:
    config = tmp_path / "witness.toml"
    config.write_text('[witness]\nname = "w.example/w1"\nsigning_key = "k.pem"\n')
    code, output = _run("witness", "serve", "--config", str(config))
    assert code == 1
    assert "database_url" in output
    assert "Traceback" not in output


def test_config_errors_show_toml_table_names_literally(tmp_path: Path) -> None:
    config = tmp_path / "witness.toml"
    config.write_text(
        '[witness]\nname = "w.example/w1"\nsigning_key = "k.pem"\n'
        'database_url = "sqlite:///w.db"\nlisten = "127.0.0.1:0"\n'
    )
    code, output = _run("witness", "serve", "--config", str(config))
    assert code == 1
    assert "no [[log]] table" in " ".join(output.split())  # not eaten as markup


def test_keygen_and_vkey_json_give_the_same_witness_key(tmp_path: Path) -> None:
    out = tmp_path / "witness-key.pem"
    made = CliRunner().invoke(
        cli, ["witness", "keygen", "--name", WITNESS_NAME, "--out", str(out), "--json"]
    )
    assert made.exit_code == 0, made.output
    document = json.loads(made.stdout)
    verifier = CosignatureVerifier.for_key(WITNESS_NAME, SigningKey.load(out).public)
    assert document == {
        "name": WITNESS_NAME,
        "key_id": verifier.key_id.hex(),
        "vkey": verifier.to_vkey(),
        "key_file": str(out),
    }
    again = CliRunner().invoke(
        cli, ["witness", "vkey", "--key", str(out), "--name", WITNESS_NAME, "--json"]
    )
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout) == document
