"""A malformed law pack is refused at load time with an error naming the file and the key.

Failing closed at load is the point: a rule the engine misreads or skips would let data go where
a statute forbids it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from law_requests import policies_with

from alprfed.errors import ConfigError
from alprfed.law import load_law_book

VALID_PACK = """\
state = "IL"
title = "Illinois (test pack)"
statute = "625 ILCS 5/2-130"
checked = 2026-12-02

[[rule]]
id = "IL-2-130-retention"
kind = "retention"
binds = "holder"
seconds = "none"
citation = "625 ILCS 5/2-130"
source = "statute"
urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]
message = "Illinois sets no retention limit."
effective = 2024-01-01

[[rule]]
id = "IL-2-130-b-immigration"
kind = "forbidden_purposes"
binds = "holder"
purposes = ["immigration_enforcement"]
citation = "625 ILCS 5/2-130(b)(2)"
source = "statute"
urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]
message = "Not for immigration status investigations."
effective = 2024-01-01
"""
# The first [[rule]] table of VALID_PACK.
URL_LINE = 'urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]'
RETENTION_RULE = VALID_PACK[
    VALID_PACK.index("[[rule]]") : VALID_PACK.index('\n[[rule]]\nid = "IL-2-130-b')
]


def test_the_valid_test_pack_loads(tmp_path: Path) -> None:
    book = load_law_book(policies_with(tmp_path, "IL.toml", VALID_PACK))
    assert [r.id for r in book.pack("IL").rules] == ["IL-2-130-retention", "IL-2-130-b-immigration"]


# (what the pack gets wrong, the change to VALID_PACK, what the error must say)
MALFORMED = [
    pytest.param(
        ('kind = "forbidden_purposes"', 'kind = "teleport_purposes"'),
        ["rule #2", "IL-2-130-b-immigration", "'kind'", "teleport_purposes"],
        id="unknown_rule_kind",
    ),
    pytest.param(
        ('citation = "625 ILCS 5/2-130(b)(2)"\n', ""),
        ["rule #2", "missing required key 'citation'"],
        id="missing_citation",
    ),
    pytest.param(
        ('citation = "625 ILCS 5/2-130(b)(2)"', 'citation = "  "'),
        ["rule #2", "'citation' must be non-empty"],
        id="blank_citation",
    ),
    pytest.param(
        ('purposes = ["immigration_enforcement"]', 'purposes = ["immigrashun"]'),
        ["rule #2", "'purposes'", "'immigrashun'", "immigration_enforcement"],
        id="bad_purpose_name",
    ),
    pytest.param(
        ('purposes = ["immigration_enforcement"]', "purposes = []"),
        ["'purposes' must list at least one value"],
        id="empty_purposes",
    ),
    pytest.param(
        ('purposes = ["immigration_enforcement"]', 'purpose = ["immigration_enforcement"]'),
        ["unknown key 'purpose'"],
        id="misspelt_key_would_have_dropped_the_prohibition",
    ),
    pytest.param(
        ('state = "IL"', 'state = "IN"'),
        ["'state' is 'IN'", "'IL'"],
        id="state_does_not_match_file_name",
    ),
    pytest.param(
        (
            'source = "statute"\nurls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]'
            '\nmessage = "Not for',
            'urls = ["https://ilga.gov/x"]\nmessage = "Not for',
        ),
        ["rule #2", "missing required key 'source'"],
        id="missing_source",
    ),
    pytest.param(
        (
            'source = "statute"\nurls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]'
            '\nmessage = "Not for',
            'source = "hearsay"\nurls = ["https://ilga.gov/x"]\nmessage = "Not for',
        ),
        ["'source'", "'hearsay'", "statute, secondary"],
        id="unknown_source",
    ),
    pytest.param(
        (
            'source = "statute"\nurls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]'
            '\nmessage = "Not for',
            'source = "policy"\nurls = ["https://ilga.gov/x"]\nmessage = "Not for',
        ),
        ["'policy' is for default.toml", "alpr_statute = false"],
        id="policy_source_in_a_state_pack",
    ),
    pytest.param(
        (
            URL_LINE + '\nmessage = "Not for',
            'urls = []\nmessage = "Not for',
        ),
        ["'urls' must name at least one source"],
        id="no_source_url",
    ),
    pytest.param(
        (
            URL_LINE + '\nmessage = "Not for',
            'urls = ["ilga.gov"]\nmessage = "Not for',
        ),
        ["'ilga.gov' is not an http(s) URL"],
        id="url_without_scheme",
    ),
    pytest.param(
        ('binds = "holder"\npurposes', 'binds = "everyone"\npurposes'),
        ["'binds'", "'everyone'", "holder, requester"],
        id="unknown_binds",
    ),
    pytest.param(
        ('seconds = "none"', "seconds = -5"),
        ["'seconds' must be a positive number of seconds or \"none\""],
        id="negative_retention",
    ),
    pytest.param(
        ('seconds = "none"', 'seconds = "forever"'),
        ["'seconds'"],
        id="retention_word_other_than_none",
    ),
    pytest.param(
        ('kind = "retention"', 'kind = "requires_case_number"'),
        ["unknown key 'seconds'"],
        id="parameter_of_another_kind",
    ),
    pytest.param(
        ('id = "IL-2-130-b-immigration"', 'id = "IL-2-130-retention"'),
        ["'IL-2-130-retention' appears twice"],
        id="duplicate_rule_id",
    ),
    pytest.param(
        ('id = "IL-2-130-b-immigration"', 'id = "CA-2-130-b-immigration"'),
        ["'id' must be IL- followed by"],
        id="rule_id_of_another_state",
    ),
    pytest.param(
        (
            'message = "Not for immigration status investigations."',
            'message = """Not for\nimmigration."""',
        ),
        ["'message' must be one line"],
        id="multi_line_message",
    ),
    pytest.param(
        ('title = "Illinois (test pack)"\n', 'title = "Illinois"\ntitel = "typo"\n'),
        ["unknown key 'titel'"],
        id="unknown_pack_key",
    ),
    pytest.param(
        ('statute = "625 ILCS 5/2-130"', 'statute = "625 ILCS 5/2-130'),
        ["IL.toml"],
        id="invalid_toml",
    ),
]


@pytest.mark.parametrize(("change", "expected"), MALFORMED)
def test_malformed_pack_is_refused(
    tmp_path: Path, change: tuple[str, str], expected: list[str]
) -> None:
    old, new = change
    assert old in VALID_PACK, "the test's change must apply to the valid pack"
    policies = policies_with(tmp_path, "IL.toml", VALID_PACK.replace(old, new, 1))
    with pytest.raises(ConfigError) as raised:
        load_law_book(policies)
    message = str(raised.value)
    assert str(policies / "states" / "IL.toml") in message
    for fragment in expected:
        assert fragment in message


def test_holder_only_kind_cannot_bind_the_requester(tmp_path: Path) -> None:
    pack = (
        VALID_PACK
        + """
[[rule]]
id = "IL-2-130-c-declaration"
kind = "out_of_state_needs_declaration"
binds = "requester"
citation = "625 ILCS 5/2-130(c)"
source = "statute"
urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]
message = "Declaration first."
"""
    )
    with pytest.raises(ConfigError, match="can only bind the holder"):
        load_law_book(policies_with(tmp_path, "IL.toml", pack))


def test_bad_sensitive_site_name(tmp_path: Path) -> None:
    pack = (
        VALID_PACK
        + """
[[rule]]
id = "IL-sites"
kind = "withhold_sites"
binds = "holder"
sites = ["school", "casino"]
citation = "625 ILCS 5/2-130"
source = "statute"
urls = ["https://ilga.gov/ftp/legislation/103/SB/10300SB3320.htm"]
message = "Sites withheld."
"""
    )
    with pytest.raises(ConfigError, match=r"'sites': 'casino' is not one of: .*place_of_worship"):
        load_law_book(policies_with(tmp_path, "IL.toml", pack))


def test_a_pack_without_a_retention_rule_is_refused(tmp_path: Path) -> None:
    pack = VALID_PACK.replace(RETENTION_RULE, "")
    with pytest.raises(ConfigError, match=r"exactly one rule of kind 'retention' \(found 0\)"):
        load_law_book(policies_with(tmp_path, "IL.toml", pack))


def test_two_retention_rules_are_refused(tmp_path: Path) -> None:
    second = RETENTION_RULE.replace("IL-2-130-retention", "IL-2-130-retention-again")
    with pytest.raises(ConfigError, match="found 2"):
        load_law_book(policies_with(tmp_path, "IL.toml", VALID_PACK + "\n" + second))


def test_file_name_must_be_an_upper_case_state_code(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"il\.toml: a law pack's file name must be"):
        load_law_book(policies_with(tmp_path, "il.toml", VALID_PACK))


def test_a_pack_without_rules_is_refused(tmp_path: Path) -> None:
    header = VALID_PACK[: VALID_PACK.index("[[rule]]")]
    with pytest.raises(ConfigError, match="missing required key 'rule'"):
        load_law_book(policies_with(tmp_path, "IL.toml", header))


def test_the_default_pack_is_required(tmp_path: Path) -> None:
    policies = policies_with(tmp_path, "IL.toml", VALID_PACK)
    (policies / "states" / "default.toml").unlink()
    with pytest.raises(ConfigError, match=r"default\.toml is missing"):
        load_law_book(policies)


def test_a_missing_states_directory_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no law pack directory"):
        load_law_book(tmp_path)


def test_non_utf8_pack_is_refused(tmp_path: Path) -> None:
    policies = policies_with(tmp_path, "IL.toml", VALID_PACK)
    (policies / "states" / "IL.toml").write_bytes(b'state = "\xff"\n')
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_law_book(policies)
