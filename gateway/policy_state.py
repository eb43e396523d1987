"""The policy in force, its publication in the ledger, and reloading it safely.

At start and on every reload the gateway builds the policy bundle from disk (policies/ plus the
federation file), loads the gates from that bundle's bytes, and — if its digest differs from
the last one published — appends a ``policy_document`` entry per document not yet published and
a ``policy_bundle`` entry naming them (and a ``key_rotation`` entry per changed key) *before* the
new policy takes effect. The swap is one attribute assignment, so a
query in flight keeps the policy it started with and the next one sees the new policy; the new
Casbin enforcer starts with an empty decision cache.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from alprfed.clock import Clock
from alprfed.config import FederationConfig
from alprfed.policy.bundle import LoadedPolicy, build_bundle, load_policy
from alprfed.signing import VerifyingKey
from gateway.audit import AuditTrail
from gateway.registry import GatewayRegistry

log = logging.getLogger("alprfed.gateway.policy")


def key_fingerprints(federation: FederationConfig, ledger_vkey: str) -> dict[str, str]:
    """role -> public key text, for every key whose change is a key rotation."""
    keys = {
        "gateway:query-signing": federation.gateway_key.to_text(),
        "gateway:checkpoint-signing": ledger_vkey,
    }
    for agency in federation.nodes():
        keys[f"node:{agency.agency_id}"] = VerifyingKey(agency.node_key).to_text()
    for court in federation.courts.values():
        keys[f"court:{court.court_id}"] = court.key.to_text()
    return keys


class PolicyHolder:
    def __init__(
        self,
        *,
        policies_dir: Path,
        load_federation: Callable[[], FederationConfig],
        registry: GatewayRegistry,
        audit: AuditTrail,
        clock: Clock,
        ledger_vkey: str,
    ) -> None:
        self._policies_dir = policies_dir
        self._load_federation = load_federation
        self._registry = registry
        self._audit = audit
        self._clock = clock
        self._ledger_vkey = ledger_vkey
        self._current: LoadedPolicy | None = None
        # Document SHA-256 -> the ledger entries holding its text, for what this process
        # published: a reload republishes only the documents that changed. After a restart
        # the map is empty and a changed bundle republishes every document (correct, larger).
        self._published_documents: dict[str, list[int]] = {}
        self._lock = asyncio.Lock()

    @property
    def current(self) -> LoadedPolicy:
        if self._current is None:
            raise RuntimeError("the policy has not been loaded")
        return self._current

    async def load(self) -> bool:
        """(Re)load from disk; publish and switch if it changed. Returns True if it changed.

        Raises:
            ConfigError: a policy or federation file is wrong (the old policy stays in force).
        """
        async with self._lock:
            federation = await asyncio.to_thread(self._load_federation)
            bundle = await asyncio.to_thread(build_bundle, self._policies_dir, federation)
            if self._current is not None and self._current.bundle.digest == bundle.digest:
                return False
            loaded = await asyncio.to_thread(load_policy, bundle)
            previous = await asyncio.to_thread(self._registry.last_published)
            if previous is None or previous[0] != bundle.digest:
                await self._publish(loaded, previous)
            self._current = loaded
            log.info("policy bundle %s in force", bundle.digest[:16])
            return True

    async def _publish(
        self, loaded: LoadedPolicy, previous: tuple[str, dict[str, str]] | None
    ) -> None:
        keys = key_fingerprints(loaded.federation, self._ledger_vkey)
        old_keys = previous[1] if previous else {}
        entry, self._published_documents = await self._audit.policy_bundle(
            loaded.bundle, previous[0] if previous else None, self._published_documents
        )
        for role in sorted(keys):
            if old_keys.get(role) != keys[role]:
                await self._audit.key_rotation(role, old_keys.get(role), keys[role])
        for role in sorted(set(old_keys) - set(keys)):
            await self._audit.key_rotation(role, old_keys[role], "")
        await asyncio.to_thread(
            self._registry.record_published,
            bundle_sha256=loaded.bundle.digest,
            keys=keys,
            ledger_index=entry.index,
            published_at=self._clock.now(),
        )
