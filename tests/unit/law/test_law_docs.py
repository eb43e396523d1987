"""docs/LAW.md lists every pack and rule as the packs say them, and says it is not legal advice."""

from __future__ import annotations

from pathlib import Path

import pytest

from alprfed.config import bundled_policies_dir
from alprfed.errors import ConfigError
from alprfed.law import LawBook
from alprfed.law.catalog import BEGIN_MARKER, END_MARKER, main, render_catalog, replace_catalog

LAW_MD = Path(__file__).resolve().parents[3] / "docs" / "LAW.md"


def test_catalog_in_law_md_is_current(full_book: LawBook) -> None:
    document = LAW_MD.read_text("utf-8")
    assert replace_catalog(document, render_catalog(full_book)) == document, (
        "docs/LAW.md is stale: run python -m alprfed.law.catalog --write docs/LAW.md"
    )


def test_law_md_names_every_rule_with_citation_and_source(book: LawBook) -> None:
    document = LAW_MD.read_text("utf-8")
    for pack in book.packs():
        assert f"### {pack.state}: {pack.title}" in document
        for rule in pack.rules:
            row = f"| `{rule.id}` | `{rule.kind.value}` | {rule.binds.value} | "
            assert f"{row}{rule.source.value} | {rule.citation} |" in document
            for url in rule.urls:
                assert url in document


def test_law_md_says_it_is_not_legal_advice() -> None:
    document = LAW_MD.read_text("utf-8")
    assert "Not legal advice" in document
    assert "counsel" in document


def test_replace_catalog_needs_both_markers() -> None:
    with pytest.raises(ConfigError, match="needs the lines"):
        replace_catalog("# no markers here\n", "catalog")
    with pytest.raises(ConfigError, match="needs the lines"):
        replace_catalog(f"{END_MARKER}\n{BEGIN_MARKER}\n", "catalog")


def test_replace_catalog_keeps_the_rest_of_the_document() -> None:
    document = f"before\n{BEGIN_MARKER}\nold\n{END_MARKER}\nafter\n"
    assert (
        replace_catalog(document, "new") == f"before\n{BEGIN_MARKER}\n\nnew\n{END_MARKER}\nafter\n"
    )


def test_catalog_command_rewrites_a_document(tmp_path: Path, full_book: LawBook) -> None:
    target = tmp_path / "LAW.md"
    target.write_text(f"# Law\n{BEGIN_MARKER}\n{END_MARKER}\n", "utf-8")
    assert main(["--policies", str(bundled_policies_dir()), "--write", str(target)]) == 0
    assert target.read_text("utf-8") == replace_catalog(
        f"# Law\n{BEGIN_MARKER}\n{END_MARKER}\n", render_catalog(full_book)
    )
    target.write_text("# no markers\n", "utf-8")
    assert main(["--write", str(target)]) == 1
    assert target.read_text("utf-8") == "# no markers\n"
