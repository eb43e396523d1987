"""State ALPR law as data (policies/states/XX.toml) and the engine that applies it.

See docs/LAW.md for every pack, rule and source.
"""

from alprfed.law.types import HolderGuard, LawDecision, LawRequest

__all__ = ["HolderGuard", "LawDecision", "LawRequest"]
