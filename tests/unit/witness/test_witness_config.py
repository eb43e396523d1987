"""The witness's TOML file: what loads, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest
from witnesses import ORIGIN, WITNESS_NAME, SigningLog, write_witness_toml

from alprfed.errors import ConfigError
from witness.config import WitnessTLS, load_witness_config


@pytest.fixture
def log() -> SigningLog:
    return SigningLog()


def _write(tmp_path: Path, log: SigningLog, extra: str = "") -> Path:
    path = tmp_path / "witness.toml"
    write_witness_toml(
        path, key="key.pem", database_url="sqlite:///w.db", listen="0.0.0.0:8443", logs=[log]
    )
    path.write_text(path.read_text() + extra)
    return path


def test_a_complete_file_loads_with_paths_relative_to_it(tmp_path: Path, log: SigningLog) -> None:
    (tmp_path / "cert.pem").write_text("x")
    (tmp_path / "tls-key.pem").write_text("x")
    path = _write(tmp_path, log, '\n[tls]\ncert = "cert.pem"\nkey = "tls-key.pem"\n')
    config = load_witness_config(path)
    assert config.name == WITNESS_NAME
    assert config.signing_key == tmp_path / "key.pem"
    assert config.database_url == f"sqlite:///{(tmp_path / 'w.db').resolve()}"
    assert config.listen == "0.0.0.0:8443"
    assert config.tls == WitnessTLS(tmp_path / "cert.pem", tmp_path / "tls-key.pem")
    assert list(config.logs) == [ORIGIN]
    assert config.logs[ORIGIN].keys == (log.verifier,)


def _error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_witness_config(path)
    return str(caught.value)


def test_unknown_keys_are_errors_naming_file_and_key(tmp_path: Path, log: SigningLog) -> None:
    path = _write(tmp_path, log)
    text = path.read_text()
    path.write_text(text.replace("[witness]\n", '[witness]\nlisten_adress = "x"\n'))
    message = _error(path)
    assert str(path) in message
    assert "listen_adress" in message
    path.write_text(text + '\n[[log]]\norigin = "b.example/log"\nkey = ["x"]\n')
    assert "'key'" in _error(path)
    path.write_text(text + '\n[tsl]\ncert = "x"\n')
    assert "tsl" in _error(path)


def test_a_log_key_named_after_another_origin_is_refused(tmp_path: Path, log: SigningLog) -> None:
    path = _write(tmp_path, log)
    other = SigningLog("other.example/log").verifier.to_vkey()
    path.write_text(path.read_text().replace(log.verifier.to_vkey(), other))
    message = _error(path)
    assert "not after the origin" in message
    assert "keys" in message


@pytest.mark.parametrize(
    ("replace", "by", "expected"),
    [
        ("keys = [", "keys = [] #", "at least one"),
        ("+", "-", "'keys' #1"),  # a malformed vkey
        (f'name = "{WITNESS_NAME}"', 'name = "has space"', "'name'"),
        (f'origin = "{ORIGIN}"', 'origin = "a+b"', "'origin'"),
        ('listen = "0.0.0.0:8443"', 'listen = "8443"', "'listen'"),
        ('signing_key = "key.pem"', "signing_key = 3", "'signing_key' has the wrong type"),
    ],
)
def test_bad_values_are_errors(
    tmp_path: Path, log: SigningLog, replace: str, by: str, expected: str
) -> None:
    path = _write(tmp_path, log)
    path.write_text(path.read_text().replace(replace, by, 1))
    assert expected in _error(path)


def test_no_log_and_twice_the_same_log_are_errors(tmp_path: Path, log: SigningLog) -> None:
    path = _write(tmp_path, log)
    text = path.read_text()
    path.write_text(text[: text.index("[[log]]")])
    assert "no [[log]]" in _error(path)
    path.write_text(text + text[text.index("[[log]]") :])
    assert "listed twice" in _error(path)


def test_tls_files_must_exist(tmp_path: Path, log: SigningLog) -> None:
    path = _write(tmp_path, log, '\n[tls]\ncert = "missing.pem"\nkey = "missing-key.pem"\n')
    assert "missing.pem" in _error(path)


def test_unreadable_toml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "witness.toml"
    path.write_text("[witness\n")
    assert str(path) in _error(path)
