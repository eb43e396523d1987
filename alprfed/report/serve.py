"""Serve the transparency report live: rebuilt whenever the ledger publishes a new checkpoint.

A plain HTTP server (the standard library's, threaded) serves the report directory; a loop asks
the ledger for its latest checkpoint every ``poll_s`` seconds and, when it changed, verifies the
ledger and rebuilds the whole site (``write_site`` swaps it in at once, so a reader never sees
half a report). Fail closed: once the ledger stops verifying, every page answers 503 with the
reason until a build succeeds again -- a report of a ledger that no longer verifies is not
shown, not even the last good one. A ledger that merely cannot be read for a while keeps the
last verified report up (it says when it was verified).
"""

from __future__ import annotations

import http.server
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from alprfed.errors import LedgerError

log = logging.getLogger(__name__)

DEFAULT_POLL_S = 10.0
# The pages have no script, fonts or frames: nothing but their own stylesheet and data: icons.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; style-src 'self'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


@dataclass
class _Health:
    failure: str | None = None


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, health: _Health, **kwargs: Any) -> None:
        self._health = health
        super().__init__(*args, **kwargs)

    def send_head(self) -> Any:
        failure = self._health.failure
        if failure is not None:
            body = f"The ledger does not verify; no report is published.\n{failure}\n".encode()
            self.send_response(503)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            return None
        return super().send_head()

    def end_headers(self) -> None:
        # The pages carry their policy in a meta tag (for any host); here it is also a header,
        # with the headers a meta tag cannot give.
        self.send_header("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        super().end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("report http: " + format, *args)


class ReportServer:
    """Serves ``out``; ``rebuild`` verifies the ledger and rewrites ``out`` (raising a
    LedgerError when the ledger does not verify); ``latest`` returns the ledger's latest
    checkpoint text, cheaply, to tell when to rebuild.

    A request that arrives during the two renames that swap a new report in may get a 404:
    the site is never half old, half new, but it may be briefly absent.
    """

    def __init__(
        self,
        out: Path,
        *,
        rebuild: Callable[[], object],
        latest: Callable[[], str],
        host: str = "127.0.0.1",
        port: int = 0,
        poll_s: float = DEFAULT_POLL_S,
    ) -> None:
        self._out = out
        self._rebuild = rebuild
        self._latest = latest
        self._poll_s = poll_s
        self._health = _Health()
        self._seen: str | None = None
        self._stop = threading.Event()
        out.mkdir(parents=True, exist_ok=True)
        handler = partial(_Handler, health=self._health, directory=str(out))
        self._http = http.server.ThreadingHTTPServer((host, port), handler)
        self._threads: list[threading.Thread] = []

    @property
    def url(self) -> str:
        host, port = self._http.server_address[:2]
        return f"http://{host!s}:{port}/"

    @property
    def failure(self) -> str | None:
        return self._health.failure

    def refresh(self) -> bool:
        """Rebuild if the ledger's checkpoint changed since the last build; True if it did.

        A ledger that does not verify withdraws the report (every page answers 503). A ledger
        that cannot be read just now (the gateway restarting, the database away) keeps the last
        verified report, which says when it was verified, and is tried again next time.
        """
        checkpoint: str | None = None
        try:
            checkpoint = self._latest()
            if checkpoint == self._seen:
                return False
            self._rebuild()
        except LedgerError as exc:  # LedgerVerificationError and the monitor state's errors
            log.error("transparency report withdrawn: %s", exc)
            self._health.failure = str(exc)
            self._seen = checkpoint  # verified again once the log publishes a new checkpoint
            return True
        except Exception as exc:  # the follower thread must outlive a ledger it cannot read
            log.warning("ledger not readable; the last verified report stays up: %s", exc)
            if self._seen is None and self._health.failure is None:  # nothing built yet
                self._health.failure = f"no report built yet: the ledger cannot be read ({exc})"
            return False
        self._seen = checkpoint
        self._health.failure = None
        return True

    def start(self) -> ReportServer:
        self.refresh()
        self._threads = [
            threading.Thread(target=self._http.serve_forever, daemon=True),
            threading.Thread(target=self._follow, daemon=True),
        ]
        for thread in self._threads:
            thread.start()
        return self

    def _follow(self) -> None:
        while not self._stop.wait(self._poll_s):
            self.refresh()

    def stop(self) -> None:
        self._stop.set()
        self._http.shutdown()
        self._http.server_close()
        for thread in self._threads:
            thread.join(timeout=10)
