"""Charts drawn on the server as inline SVG: no script and no outside file, so they show under
the pages' Content-Security-Policy and on a commune's slow link alike.

`bar_chart` draws one bar per label (a day, say) with a labelled value axis; the chart names
itself to screen readers (`role="img"`, its `<title>` and `<desc>`), and each bar carries its
value as a tooltip. The page puts the same figures in a table beside it for whoever cannot see
the chart. Colours are SVG presentation attributes, not inline style (which the policy refuses),
as in the reports' charts (`server.reports.charts`, whose axis rounding this shares).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from server.reports.charts import nice_ceiling

WIDTH = 480
HEIGHT = 200
LEFT = 48
"""Room for the value axis's labels."""
RIGHT = 6
TOP = 12
BOTTOM = 26
"""Room for the labels under the bars."""
GRIDLINES = 4
BAR = "#0b4f9c"
GAP = "#8a8f96"
"""A day without data: a grey mark on the baseline, told apart from a zero."""
GRID = "#d8dbe0"
FONT = 'font-family="Noto Sans, DejaVu Sans, sans-serif" font-size="14"'
"""A little larger than the reports' (12): these charts are drawn narrower, then scaled up."""


@dataclass(frozen=True)
class Bar:
    """One bar: its label under the chart, its value (None: nothing known, drawn as a gap)."""

    label: str
    value: float | None


def _number(value: float) -> str:
    """An axis value in Vietnamese style (1.000; 2,5)."""
    if value == int(value):
        return f"{int(value):,}".replace(",", ".")
    return f"{value:.1f}".replace(".", ",")


def bar_chart(
    bars: Sequence[Bar],
    *,
    chart_id: str,
    title: str,
    description: str,
    label_every: int = 7,
) -> Markup:
    """An SVG bar chart of `bars`, left to right.

    Args:
        chart_id: a prefix for the ids of the chart's title and description (unique on the
            page).
        title: what the chart shows (its accessible name).
        description: what it says, in a sentence (its accessible description).
        label_every: label every this many bars under the chart, and the last (one too near
            the last is left out, so that the two do not overlap).
    """
    top = nice_ceiling(max((b.value for b in bars if b.value is not None), default=0.0))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / max(len(bars), 1)
    ident = escape(chart_id)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-title {ident}-desc" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]
    for i in range(GRIDLINES + 1):
        value = top * i / GRIDLINES
        y = TOP + plot_h - plot_h * i / GRIDLINES
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" {FONT}>'
            f"{_number(value)}</text>"
        )
    for i, bar in enumerate(bars):
        x = LEFT + slot * i
        if bar.value is None:
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - 2}" '
                f'width="{slot * 0.7:.1f}" height="2" fill="{GAP}">'
                f"<title>{escape(bar.label)}: không có dữ liệu</title></rect>"
            )
        else:
            h = plot_h * bar.value / top
            parts.append(
                f'<rect x="{x + slot * 0.15:.1f}" y="{TOP + plot_h - h:.1f}" '
                f'width="{slot * 0.7:.1f}" height="{h:.1f}" fill="{BAR}">'
                f"<title>{escape(bar.label)}: {_number(bar.value)}</title></rect>"
            )
        last = len(bars) - 1
        if i == last:  # ends at the chart's right edge rather than past it
            parts.append(
                f'<text x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" text-anchor="end" {FONT}>'
                f"{escape(bar.label)}</text>"
            )
        elif i % label_every == 0 and last - i > label_every // 2:  # no overlap with the last
            parts.append(
                f'<text x="{x + slot / 2:.1f}" y="{HEIGHT - 8}" text-anchor="middle" {FONT}>'
                f"{escape(bar.label)}</text>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 (every text in it is escaped above)
