"""State ALPR law as data (policies/states/XX.toml) and the engine that applies it.

    book = load_law_book(policies_dir)          # ConfigError for any malformed pack
    decision = book.decide(LawRequest(...))     # holder's and requester's state law
    guard = book.holder_guard("CA", configured_retention=30 * 86_400)

See docs/LAW.md for every pack, rule and source.
"""

from alprfed.law.book import LawBook
from alprfed.law.loader import load_law_book
from alprfed.law.rules import Binds, LawPack, LawRule, RuleKind, Scope, Source
from alprfed.law.types import HolderGuard, LawDecision, LawRequest

__all__ = [
    "Binds",
    "HolderGuard",
    "LawBook",
    "LawDecision",
    "LawPack",
    "LawRequest",
    "LawRule",
    "RuleKind",
    "Scope",
    "Source",
    "load_law_book",
]
