"""The report's figures drawn as SVG on the server: no script and no outside library, so the
pages stay light and work with no internet. Each chart has a title and a description for screen
readers, and the page shows the same figures as a table beside it.

Drawn in a fixed coordinate space (`viewBox`) that the page scales to its width.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from server.reports.figures import MonthFigures, State, UnitProgress

DIGITIZED = "#0b4f9c"
REUSED = "#d9822b"
STATE_COLOURS = {
    State.DONE: "#1d6b35",
    State.IN_PROGRESS: "#0b4f9c",
    State.LATE: "#a3161d",
    State.NO_TARGET: "#8a8f96",
}
_WIDTH = 720
_FONT = 'font-family="Noto Sans, DejaVu Sans, sans-serif" font-size="12"'


def nice_ceiling(value: float) -> int:
    """The smallest of 1, 2, 2.5 or 5 times a power of ten at or above `value` (1 at least):
    the top of an axis people read easily."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return int(step * power) if step * power >= 1 else 1
    return int(10 * power)


def _svg(height: int, title: str, description: str, body: list[str], ident: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_WIDTH} {height}" '
        f'width="100%" role="img" aria-labelledby="{ident}-t {ident}-d" class="chart">'
        f'<title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every text is escaped)


def monthly_bars(months: Sequence[MonthFigures], *, ident: str = "months") -> Markup:
    """Results digitized and reused per month, as pairs of bars with a scale."""
    height, left, bottom, top = 260, 56, 36, 16
    plot_w, plot_h = _WIDTH - left - 12, height - bottom - top
    peak = nice_ceiling(max([m.digitized for m in months] + [m.reused for m in months] + [1]))
    body: list[str] = []
    for i in range(5):
        value = peak * i / 4
        y = top + plot_h - plot_h * i / 4
        body.append(
            f'<line x1="{left}" x2="{_WIDTH - 12}" y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dbe0"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end" {_FONT}>'
            f"{_number(value)}</text>"
        )
    slot = plot_w / max(len(months), 1)
    bar = max(min(slot * 0.38, 28), 2)
    every = max(1, math.ceil(len(months) / 12))
    for i, m in enumerate(months):
        x = left + slot * i + slot / 2
        for offset, value, colour, what in (
            (-bar, m.digitized, DIGITIZED, "số hóa"),
            (0, m.reused, REUSED, "tái sử dụng"),
        ):
            h = plot_h * value / peak
            body.append(
                f'<rect x="{x + offset:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{_month(m.month)}: {value} {what}'
                "</title></rect>"
            )
        if i % every == 0:
            body.append(
                f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle" {_FONT}>'
                f"{_month(m.month)}</text>"
            )
    body.append(_legend(left, height - 6, [(DIGITIZED, "Số hóa"), (REUSED, "Tái sử dụng")]))
    total = sum(m.digitized for m in months)
    return _svg(
        height,
        "Kết quả số hóa và tái sử dụng theo tháng",
        f"{total} kết quả được số hóa từ {_month(months[0].month)} đến {_month(months[-1].month)}."
        if months
        else "Không có dữ liệu.",
        body,
        ident,
    )


def progress_bars(units: Sequence[UnitProgress], *, ident: str = "progress") -> Markup:
    """Each unit's progress against its target, one bar per unit (full width: the target)."""
    row, left, right = 24, 230, 70
    height = max(row * len(units) + 30, 60)
    bar_w = _WIDTH - left - right
    body: list[str] = []
    for i, u in enumerate(units):
        y = 8 + row * i
        share = min(u.progress or 0.0, 1.0)
        label = "—" if u.progress is None else f"{u.progress * 100:.0f}%"
        body.append(
            f'<text x="{left - 8}" y="{y + 14}" text-anchor="end" {_FONT}>'
            f"{escape(_short(u.name))}</text>"
            f'<rect x="{left}" y="{y + 3}" width="{bar_w}" height="14" fill="#eef0f3"/>'
            f'<rect x="{left}" y="{y + 3}" width="{bar_w * share:.1f}" height="14" '
            f'fill="{STATE_COLOURS[u.state]}"><title>{escape(u.name)}: {label}</title></rect>'
            f'<text x="{left + bar_w + 6}" y="{y + 14}" {_FONT}>{label}</text>'
        )
    body.append(
        _legend(
            left,
            height - 6,
            [
                (STATE_COLOURS[State.DONE], "Hoàn thành"),
                (STATE_COLOURS[State.IN_PROGRESS], "Đang thực hiện"),
                (STATE_COLOURS[State.LATE], "Quá hạn"),
            ],
        )
    )
    done = sum(1 for u in units if u.state is State.DONE)
    late = sum(1 for u in units if u.state is State.LATE)
    return _svg(
        height,
        "Tiến độ số hóa so với chỉ tiêu, theo đơn vị",
        f"{len(units)} đơn vị: {done} hoàn thành, {late} quá hạn.",
        body,
        ident,
    )


def _legend(x: int, y: int, items: list[tuple[str, str]]) -> str:
    out = []
    for colour, label in items:
        out.append(
            f'<rect x="{x}" y="{y - 10}" width="12" height="12" fill="{colour}"/>'
            f'<text x="{x + 16}" y="{y}" {_FONT}>{escape(label)}</text>'
        )
        x += 24 + 8 * len(label)
    return "".join(out)


def _month(month: str) -> str:
    return f"{month[5:]}/{month[2:4]}"


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", ".") if value >= 1 or value == 0 else f"{value:.1f}"


def _short(name: str, limit: int = 32) -> str:
    return name if len(name) <= limit else name[: limit - 1] + "…"
