"""Charts as accessible inline SVG: horizontal bars, drawn here so the pages need no script.

Each chart is an ``<svg role="img">`` labelled by its own ``<title>`` and ``<desc>`` (the desc
lists every bar's value, which is what a screen reader announces), with the value printed at
the end of every bar, so no reader depends on colour or on bar length. The pages put the same
numbers in a table beside each chart. Colours meet WCAG 2.1 AA contrast on white.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

BAR_HEIGHT = 22  # px per bar
GAP = 6  # px between bars
LABEL_WIDTH = 230  # px kept for the labels left of the bars
BAR_SPACE = 330  # px the longest bar spans
VALUE_SPACE = 60  # px right of the bars for the printed values
BAR_COLOUR = "#1f4e79"  # 8.6:1 against white
TEXT_COLOUR = "#1a1a1a"
MAX_LABEL_CHARS = 34  # longer labels are shortened in the chart; the table beside it has them whole


def bar_chart(chart_id: str, title: str, rows: Sequence[tuple[str, int]]) -> Markup:
    """An SVG bar chart of ``rows`` (label, non-negative value), in the order given."""
    width = LABEL_WIDTH + BAR_SPACE + VALUE_SPACE
    if not rows:
        return Markup('<p class="empty">{}: none.</p>').format(title)
    height = len(rows) * (BAR_HEIGHT + GAP) + GAP
    top = max(value for _, value in rows) or 1
    desc = "; ".join(f"{label}: {value}" for label, value in rows)
    parts = [
        f'<svg class="chart" id="{escape(chart_id)}" role="img" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" aria-labelledby="{escape(chart_id)}-t '
        f'{escape(chart_id)}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{escape(chart_id)}-t">{escape(title)}</title>',
        f'<desc id="{escape(chart_id)}-d">{escape(desc)}</desc>',
    ]
    for position, (label, value) in enumerate(rows):
        y = GAP + position * (BAR_HEIGHT + GAP)
        bar = round(BAR_SPACE * value / top) if value else 0
        middle = y + BAR_HEIGHT // 2 + 5
        shown = label if len(label) <= MAX_LABEL_CHARS else label[: MAX_LABEL_CHARS - 1] + "…"
        parts += [
            f'<text x="{LABEL_WIDTH - 8}" y="{middle}" text-anchor="end" '
            f'fill="{TEXT_COLOUR}" font-size="13">{escape(shown)}</text>',
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{bar}" height="{BAR_HEIGHT}" '
            f'fill="{BAR_COLOUR}"/>',
            f'<text x="{LABEL_WIDTH + bar + 6}" y="{middle}" fill="{TEXT_COLOUR}" '
            f'font-size="13">{value}</text>',
        ]
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 -- every interpolated text was escaped above
