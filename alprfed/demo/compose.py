"""The federation deploy/compose.yaml runs: two agency nodes, a gateway, three witnesses.

``python -m alprfed.demo.compose DIR`` (the compose file's one-shot ``setup`` service) builds
its keys, PKI and configs in DIR once; run again it leaves an existing federation alone, so a
restarted stack keeps its ledger and keys. The gateway and nodes keep their data in
PostgreSQL: each gets a database URL in a secret file (mode 0600) under DIR/secrets, built
from the PostgreSQL password secret, which the compose file hands over as
``ALPRFED_<SERVICE>_DATABASE_URL_FILE`` (docs/OPERATIONS.md, "Secrets in files").

The alprfed services share one network namespace (the gateway's), so they reach each other on
``localhost`` as the demo's certificates name it; only the gateway is published to the host.
"""

from __future__ import annotations

import os
import shutil
import sys
import urllib.parse
from dataclasses import replace
from pathlib import Path

from alprfed.demo.layout import build_layout
from alprfed.demo.spec import DEMO

NODE_AGENCIES = ("sjpd", "chicago-pd")
# Requesters without nodes: a federal agency, to show the interstate and federal gates.
OTHER_AGENCIES = ("ice-ero",)
GATEWAY_PORT = 7443
NODE_PORTS = {"sjpd": 7601, "chicago-pd": 7602}
WITNESS_BASE_PORT = 8441
DB_HOST = "db"  # the PostgreSQL service of deploy/compose.yaml
DB_USER = "alprfed"
PASSWORD_FILE = Path("/run/secrets/db-password")


def database_url(database: str, password: str) -> str:
    quoted = urllib.parse.quote(password, safe="")
    return f"postgresql+psycopg://{DB_USER}:{quoted}@{DB_HOST}:5432/{database}"


def database_name(service: str) -> str:
    """gateway, node_sjpd, node_chicago_pd: the databases deploy/compose/initdb.sql creates."""
    return service if service == "gateway" else "node_" + service.replace("-", "_")


def build(root: Path, password: str) -> bool:
    """Build the federation under ``root`` unless it is there already; True if built."""
    if (root / "federation.toml").exists():
        return False
    spec = replace(
        DEMO,
        agencies=tuple(
            a for a in DEMO.agencies if a.agency_id in (*NODE_AGENCIES, *OTHER_AGENCIES)
        ),
        people={k: v for k, v in DEMO.people.items() if k in (*NODE_AGENCIES, *OTHER_AGENCIES)},
    )
    staging = root / ".staging"
    if staging.exists():  # a setup killed half-way: start again
        shutil.rmtree(staging)
    layout = build_layout(
        staging,
        spec,
        gateway_port=GATEWAY_PORT,
        node_ports=NODE_PORTS,
        witness_ports={w.witness_id: WITNESS_BASE_PORT + i for i, w in enumerate(spec.witnesses)},
    )
    secrets = layout.root / "secrets"
    secrets.mkdir(mode=0o700)
    for service in ("gateway", *NODE_AGENCIES):
        path = secrets / f"{service}-database-url"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(database_url(database_name(service), password) + "\n")
    # federation.toml moves last: a setup killed half-way leaves no federation that the next
    # run would take for complete.
    for entry in sorted(staging.iterdir(), key=lambda p: p.name == "federation.toml"):
        target = root / entry.name
        if target.is_dir():  # left by a setup killed while moving
            shutil.rmtree(target)
        entry.replace(target)
    staging.rmdir()
    return True


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m alprfed.demo.compose DIR", file=sys.stderr)
        return 2
    root = Path(argv[0])
    try:
        password = PASSWORD_FILE.read_text(encoding="utf-8").strip()
    except OSError as exc:
        print(
            f"error: cannot read the PostgreSQL password {PASSWORD_FILE}: {exc.strerror}",
            file=sys.stderr,
        )
        return 1
    built = build(root, password)
    print(f"federation {'built' if built else 'already present'} in {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
