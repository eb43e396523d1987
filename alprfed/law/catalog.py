"""Render the law packs as the Markdown catalog in docs/LAW.md, so the docs cannot drift.

docs/LAW.md holds the catalog between two marker lines; the tests fail when it differs from what
this module renders from the packs. After changing a pack, rewrite it::

    python -m alprfed.law.catalog --write docs/LAW.md
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from alprfed.errors import ConfigError
from alprfed.law.book import LawBook
from alprfed.law.loader import load_law_book
from alprfed.law.rules import (
    AGREEMENT_PACK,
    LawPack,
    LawRule,
    RuleKind,
    Scope,
    describe_seconds,
)
from alprfed.law.summary import summarize

BEGIN_MARKER = "<!-- BEGIN LAW CATALOG: made by `python -m alprfed.law.catalog`; do not edit -->"
END_MARKER = "<!-- END LAW CATALOG -->"


def render_catalog(book: LawBook) -> str:
    """The table of every jurisdiction, then every pack and rule, as Markdown (without the
    marker lines)."""
    packs = (*book.packs(), *([book.agreement] if book.agreement is not None else []))
    return "\n\n".join([render_table(book), *(_render_pack(pack) for pack in packs)])


def render_table(book: LawBook) -> str:
    """One row per jurisdiction (and the default pack), summarized from its rules."""
    lines = [
        "### Every jurisdiction at a glance",
        "",
        "| pack | statute | retention | purposes | sharing | warrant / case number "
        "| sources | in force | checked |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for pack in book.packs():
        s = summarize(pack)
        cells = (s.statute, s.retention, s.purposes, s.sharing, s.warrant, s.sources)
        row = " | ".join((pack.state, *cells, s.effective, s.checked))
        lines.append(f"| {row} |")
    return "\n".join(lines)


def _render_pack(pack: LawPack) -> str:
    if pack.state == AGREEMENT_PACK:
        cap = "none: each node's state law sets its retention"
    elif (retention := pack.retention_seconds) is not None:
        cap = f"{describe_seconds(retention)} ({retention} s)"
    else:
        cap = "no cap: the agency's configured retention applies"
    lines = [
        f"### {pack.state}: {pack.title}",
        "",
        f"- **Statute:** {pack.statute}",
        f"- **File:** `policies/{pack.file_name}`",
        f"- **Retention:** {cap}",
    ]
    if pack.checked is not None:
        lines.append(f"- **Checked:** {pack.checked.isoformat()}")
    if not pack.alpr_statute:
        lines.append("- **No ALPR statute.** General law that applies:")
        lines += [f"  - {law}" for law in pack.general_law]
    lines += [f"- **Note:** {note}" for note in pack.notes]
    lines += [
        "",
        "| rule | kind | binds | source | citation | in force |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{r.id}` | `{r.kind.value}` | {r.binds.value} | {r.source.value} | {r.citation} "
        f"| {r.in_force.describe()} |"
        for r in pack.rules
    ]
    lines.append("")
    for rule in pack.rules:
        lines += _render_rule(rule)
    if pack.pending:
        lines += ["", "Pending bills (listed for information; never enforced):", ""]
        for bill in pack.pending:
            sources = "".join(f" <{url}>" for url in bill.urls)
            lines.append(
                f"- **{bill.bill}** ({bill.status}; {bill.source.value}): {bill.summary}{sources}"
            )
    return "\n".join(lines)


def _render_rule(rule: LawRule) -> list[str]:
    lines = [f"- `{rule.id}`: {rule.message}"]
    parameters = _parameters(rule)
    if parameters:
        lines.append(f"  - Parameters: {parameters}")
    if rule.note:
        lines.append(f"  - Note: {rule.note}")
    if rule.urls:
        lines.append("  - Sources: " + ", ".join(f"<{url}>" for url in rule.urls))
    return lines


def _parameters(rule: LawRule) -> str:
    parts: list[str] = []
    if rule.purposes:
        parts.append("purposes " + ", ".join(sorted(f"`{p.value}`" for p in rule.purposes)))
    if rule.agency_kinds:
        parts.append("agency kinds " + ", ".join(sorted(k.value for k in rule.agency_kinds)))
    if rule.states:
        parts.append("states " + ", ".join(sorted(rule.states)))
    if rule.sites:
        parts.append("sites " + ", ".join(sorted(f"`{s.value}`" for s in rule.sites)))
    if rule.scope is not Scope.ALL:
        parts.append(f"scope `{rule.scope.value}`")
    if rule.kind is RuleKind.REQUIRES_WARRANT:
        parts.append(f"exigent approval {'suffices' if rule.exigent_suffices else 'does not'}")
    if rule.older_than_seconds is not None:
        parts.append(f"only for data older than {describe_seconds(rule.older_than_seconds)}")
    return "; ".join(parts)


def replace_catalog(document: str, catalog: str) -> str:
    """``document`` with the text between the markers replaced by ``catalog``.

    Raises:
        ConfigError: the document lacks the markers, or has them out of order.
    """
    begin, end = document.find(BEGIN_MARKER), document.find(END_MARKER)
    if begin < 0 or end < begin:
        raise ConfigError(f"the document needs the lines {BEGIN_MARKER!r} and {END_MARKER!r}")
    head = document[: begin + len(BEGIN_MARKER)]
    return f"{head}\n\n{catalog}\n{document[end:]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--policies", type=Path, default=None, help="policies directory")
    parser.add_argument("--write", type=Path, default=None, help="Markdown file to update")
    args = parser.parse_args(argv)
    if args.policies is None:
        from alprfed.config import bundled_policies_dir

        args.policies = bundled_policies_dir()
    try:
        catalog = render_catalog(load_law_book(args.policies))
        if args.write is None:
            sys.stdout.write(catalog + "\n")
            return 0
        document = args.write.read_text("utf-8")
        args.write.write_text(replace_catalog(document, catalog), "utf-8")
    except (ConfigError, OSError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
