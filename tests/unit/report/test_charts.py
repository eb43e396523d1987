"""The report's inline SVG charts: accessible names, every value printed, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from alprfed.report.charts import BAR_SPACE, LABEL_WIDTH, bar_chart

SVG = "{http://www.w3.org/2000/svg}"


def test_a_chart_is_an_image_named_by_its_title_and_described_by_every_value() -> None:
    svg = ET.fromstring(str(bar_chart("c", "Queries by purpose", [("robbery", 3), ("amber", 1)])))
    assert svg.get("role") == "img"
    assert svg.get("aria-labelledby") == "c-t c-d"
    assert svg.find(f"{SVG}title").text == "Queries by purpose"  # type: ignore[union-attr]
    assert svg.find(f"{SVG}desc").text == "robbery: 3; amber: 1"  # type: ignore[union-attr]
    texts = [t.text for t in svg.iter(f"{SVG}text")]
    assert texts == ["robbery", "3", "amber", "1"]  # no value left to bar length or colour


def test_bars_are_proportional_and_the_largest_spans_the_chart() -> None:
    svg = ET.fromstring(str(bar_chart("c", "t", [("a", 4), ("b", 1), ("c", 0)])))
    widths = [int(r.get("width", "-1")) for r in svg.iter(f"{SVG}rect")]
    assert widths == [BAR_SPACE, BAR_SPACE // 4, 0]
    assert {r.get("x") for r in svg.iter(f"{SVG}rect")} == {str(LABEL_WIDTH)}


def test_markup_in_a_label_is_escaped_not_injected() -> None:
    chart = str(bar_chart("c", "<b>t</b>", [('<script>alert(1)</script>"', 1)]))
    assert "<script>" not in chart
    assert "&lt;script&gt;" in chart
    ET.fromstring(chart)  # still well-formed


def test_an_empty_chart_says_none() -> None:
    assert str(bar_chart("c", "Warrants", [])) == '<p class="empty">Warrants: none.</p>'
