"""GET a probe server's page the way a scraper or a kubelet does: plain HTTP on loopback."""

from __future__ import annotations

import urllib.error
import urllib.request


def http_get(port: int, path: str) -> tuple[int, str]:
    """(status, body) of ``GET http://127.0.0.1:<port><path>``; an error status is returned,
    not raised. Raises OSError when nothing listens."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
