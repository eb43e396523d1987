"""The witness service an oversight body runs: it cosigns the ledger's checkpoints (C2SP
tlog-witness, https://c2sp.org/tlog-witness) only when they extend, append-only, the newest
checkpoint it cosigned before, and remembers that one durably. docs/WITNESS.md specifies it.

Modules, from the bottom up::

    config     WitnessConfig from TOML: the witness's name and key, its database, the logs
    protocol   the add-checkpoint body, the spec's checks in the spec's order, refusals (pure)
    store      the witnessed state per log: atomic check-and-update, evidence of misbehaviour
    service    WitnessService: parse, verify, check and cosign one request (blocking, threads)
    server     the aiohttp application: add-checkpoint, the monitoring endpoint, /healthz
"""

from __future__ import annotations
