"""Per-camera bearer tokens for the webhook receiver: issued once, stored only as hashes.

A token is ``alprfed-cam_`` followed by 32 random bytes (URL-safe base64). That much entropy
needs no slow password hash: the file holds each token's SHA-256, so a copy of the file (or
of a backup) lets no one post as a camera. A presented token is hashed and compared with every
stored hash in constant time (``hmac.compare_digest``), all of them, so neither the answer's
timing nor which entry matched leaks anything.

The file is JSON, ``{"version": 1, "cameras": {camera_id: {"sha256": hex, "issued_at": s}}}``,
written whole to a temporary file and renamed over the old one (a reader never sees half a
file) with mode 0600. One token per camera: issuing again replaces the old token. The receiver
re-reads the file when it changes, so a revocation takes effect on the next request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alprfed.errors import ConfigError, NotFound
from alprfed.models import check_identifier

TOKEN_PREFIX = "alprfed-cam_"  # noqa: S105 - a label telling tokens apart, not a secret
TOKEN_BYTES = 32
FILE_VERSION = 1
FILE_MODE = 0o600


@dataclass(frozen=True)
class IssuedToken:
    camera_id: str
    token: str  # shown once; only its hash is kept


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class CameraTokens:
    """The token file: issue, revoke, list, and authenticate a presented token."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        # (inode, mtime_ns, size) of the file last read. Every write renames a new file into
        # place, so the inode changes even when a re-issue leaves size and coarse mtime alike.
        self._seen: tuple[int, int, int] | None = None
        self._hashes: dict[str, str] = {}

    def issue(self, camera_id: str, *, now: int) -> IssuedToken:
        """A new token for ``camera_id``, replacing any earlier one.

        Raises:
            InvalidRequest: not a camera id. ConfigError: the file cannot be read or written.
        """
        check_identifier(camera_id, field_name="camera_id")
        token = TOKEN_PREFIX + secrets.token_urlsafe(TOKEN_BYTES)
        cameras = self._read_file()
        cameras[camera_id] = {"sha256": hash_token(token), "issued_at": now}
        self._write_file(cameras)
        return IssuedToken(camera_id, token)

    def revoke(self, camera_id: str) -> None:
        """Raises: NotFound when the camera has no token. ConfigError: file errors."""
        cameras = self._read_file()
        if cameras.pop(camera_id, None) is None:
            raise NotFound(f"camera {camera_id!r} has no webhook token")
        self._write_file(cameras)

    def issued(self) -> dict[str, int]:
        """Camera id -> when its token was issued (Unix seconds)."""
        return {camera: int(entry["issued_at"]) for camera, entry in self._read_file().items()}

    def camera_for(self, token: str) -> str | None:
        """The camera ``token`` was issued to, or None. Raises: ConfigError (a bad file)."""
        presented = hash_token(token).encode("ascii")
        match = None
        for camera_id, stored in self._current().items():
            if hmac.compare_digest(presented, stored.encode("ascii")):
                match = camera_id  # no early exit: every entry is compared
        return match

    def _current(self) -> dict[str, str]:
        with self._lock:
            try:
                stat = self._path.stat()
                seen: tuple[int, int, int] | None = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
            except FileNotFoundError:
                seen = None  # no file yet: no camera has a token
            if seen != self._seen or seen is None:
                cameras = self._read_file() if seen is not None else {}
                self._hashes = {camera: str(entry["sha256"]) for camera, entry in cameras.items()}
                self._seen = seen
            return self._hashes

    def _read_file(self) -> dict[str, dict[str, Any]]:
        try:
            document = json.loads(self._path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise ConfigError(f"camera token file {self._path}: cannot read it: {exc}") from None
        cameras = document.get("cameras") if isinstance(document, dict) else None
        if document.get("version") != FILE_VERSION or not isinstance(cameras, dict):
            raise ConfigError(f"camera token file {self._path}: not a version 1 token file")
        for camera_id, entry in cameras.items():
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("sha256"), str)
                and len(entry["sha256"]) == 64
                and isinstance(entry.get("issued_at"), int)
            ):
                raise ConfigError(f"camera token file {self._path}: bad entry for {camera_id!r}")
        return cameras

    def _write_file(self, cameras: dict[str, dict[str, Any]]) -> None:
        text = json.dumps({"version": FILE_VERSION, "cameras": cameras}, indent=2, sort_keys=True)
        directory = self._path.parent
        try:
            fd, staging = tempfile.mkstemp(prefix=".tokens-", dir=directory)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    handle.write(text + "\n")
                os.chmod(staging, FILE_MODE)
                os.replace(staging, self._path)
            except BaseException:
                Path(staging).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise ConfigError(f"camera token file {self._path}: cannot write it: {exc}") from None
