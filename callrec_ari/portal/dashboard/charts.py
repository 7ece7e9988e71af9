"""Server-side SVG charts for the dashboards (issue 19): no JavaScript, no CDN, nothing fetched.

Pure functions from numbers and already translated words to an SVG string (:class:`markupsafe.Markup`,
so a template inserts it as it is). Every chart is ``role="img"`` with a ``<title>`` and a ``<desc>``
named by ``aria-labelledby``; every text is escaped here. Series are told apart by colour (each at
least 3:1 against white, WCAG 1.4.11) AND by a fill pattern, in legend order, so a chart still reads in
greyscale; the figures themselves are always in a table beside the chart.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

from markupsafe import Markup

# Dark enough on white for graphics (>= 3:1; tests/unit/test_dashboard_charts.py checks), and paired
# with a pattern each: colour is never the only difference.
PALETTE = ("#1f5f99", "#b3471d", "#2d7a3e", "#7a4fa0", "#8a6a00", "#a3325f", "#3d6b73", "#5c5c5c")
_WHITE = 'stroke="#fff" stroke-width="1.4"'
PATTERNS = (
    "",  # solid
    f'<path d="M-1,1 l2,-2 M0,6 l6,-6 M5,7 l2,-2" {_WHITE}/>',  # diagonal stripes
    '<circle cx="3" cy="3" r="1.3" fill="#fff"/>',  # dots
    f'<path d="M0,3 h6" {_WHITE}/>',  # horizontal lines
    f'<path d="M0,0 l6,6 M6,0 l-6,6" {_WHITE}/>',  # cross-hatch
    f'<path d="M3,0 v6" {_WHITE}/>',  # vertical lines
    f'<path d="M-1,5 l2,2 M0,0 l6,6 M5,-1 l2,2" {_WHITE}/>',  # the other diagonal
    f'<path d="M0,3 h6 M3,0 v6" {_WHITE}/>',  # grid
)
STYLE = (
    "<style>.dash-chart text{font:12px system-ui,sans-serif;fill:#222}"
    ".dash-chart .tick{fill:#444;font-size:11px}.dash-chart .grid{stroke:#d0d0d0;stroke-width:1}"
    ".dash-chart .axis{stroke:#333;stroke-width:1}.dash-chart .empty{font-size:15px;fill:#444}</style>"
)
_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,40}")


@dataclass(frozen=True, slots=True)
class Series:
    """One stacked series: its (translated) name and one value per x-axis label."""

    name: str
    values: Sequence[int]


def nice_step(raw: float) -> int:
    """The smallest round step (1, 2 or 5 times a power of ten, at least 1) not below ``raw``."""
    if raw <= 1:
        return 1
    power = 10 ** math.floor(math.log10(raw))
    for factor in (1, 2, 5, 10):
        if factor * power >= raw:
            return int(factor * power)
    return int(10 * power)  # pragma: no cover - the loop always returns


def nice_ticks(top: int, target: int = 5) -> list[int]:
    """Round y-axis ticks from 0 to at least ``top``, about ``target`` intervals: 7 -> 0, 2, 4, 6, 8."""
    if top <= 0:
        return [0, 1]
    step = nice_step(top / target)
    last = math.ceil(top / step) * step
    return list(range(0, last + step, step))


def stack(series: Sequence[Series], count: int) -> list[int]:
    """The column totals of stacked series (each series must have ``count`` values)."""
    totals = [0] * count
    for s in series:
        if len(s.values) != count:
            raise ValueError(f"series {s.name!r}: {len(s.values)} values for {count} labels")
        for i, value in enumerate(s.values):
            if value < 0:
                raise ValueError(f"series {s.name!r}: a negative value")
            totals[i] += value
    return totals


def text_width(text: str, size: float = 12) -> float:
    """A rough width of ``text`` in pixels (CJK characters are about square, Latin about half)."""
    return sum(size if ord(ch) >= 0x2E80 else size * 0.6 for ch in text)


def _check_id(chart_id: str) -> str:
    if not _ID.fullmatch(chart_id):
        raise ValueError(f"chart id {chart_id!r}: letters, digits, - and _ only")
    return chart_id


def _n(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _text(x: float, y: float, text: str, anchor: str = "start", cls: str = "", extra: str = "") -> str:
    klass = f' class="{cls}"' if cls else ""
    return (f'<text x="{_n(x)}" y="{_n(y)}" text-anchor="{anchor}"{klass}{extra}>'
            f"{escape(text)}</text>")


def _open(chart_id: str, title: str, desc: str, width: float, height: float) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dash-chart" id="{chart_id}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" viewBox="0 0 {_n(width)} {_n(height)}" '
        f'width="{_n(width)}" height="{_n(height)}" style="max-width:100%;height:auto">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>',
        STYLE,
    ]


def _patterns(chart_id: str, count: int) -> str:
    out = ["<defs>"]
    for i in range(count):
        colour, body = PALETTE[i % len(PALETTE)], PATTERNS[i % len(PATTERNS)]
        out.append(f'<pattern id="{chart_id}-p{i}" width="6" height="6" patternUnits="userSpaceOnUse">'
                   f'<rect width="6" height="6" fill="{colour}"/>{body}</pattern>')
    out.append("</defs>")
    return "".join(out)


def _empty(parts: list[str], width: float, height: float, empty_text: str) -> Markup:
    parts.append('<rect width="100%" height="100%" fill="#f7f7f7"/>')
    parts.append(_text(width / 2, height / 2, empty_text, "middle", "empty"))
    parts.append("</svg>")
    return Markup("".join(parts))


def label_every(count: int, room: float, label_width: float) -> int:
    """Label every n-th bar so labels ``label_width`` wide fit bars ``room`` apart."""
    return max(1, math.ceil((label_width + 6) / room)) if room > 0 else count or 1


def stacked_bars(
    chart_id: str,
    title: str,
    desc: str,
    labels: Sequence[str],
    series: Sequence[Series],
    *,
    x_label: str,
    y_label: str,
    empty_text: str,
    width: int = 720,
) -> Markup:
    """A stacked bar chart: one bar per label (days, oldest left), ``series[0]`` at the bottom, y
    gridlines on round ticks, a legend below in stacking order (bottom first)."""
    _check_id(chart_id)
    totals = stack(series, len(labels))
    left, right, top, plot_h = 56.0, 12.0, 14.0, 200.0
    plot_w = width - left - right
    legend_rows = _legend_rows(series, plot_w)
    axis_y = top + plot_h
    height = axis_y + 44 + 22 * len(legend_rows) + 6
    if not labels or sum(totals) == 0:
        return _empty(_open(chart_id, title, desc, width, 120), width, 120, empty_text)
    parts = _open(chart_id, title, desc, width, height)
    parts.append(_patterns(chart_id, len(series)))
    ticks = nice_ticks(max(totals))
    scale = plot_h / ticks[-1]
    for tick in ticks:
        y = axis_y - tick * scale
        parts.append(f'<line class="grid" x1="{_n(left)}" x2="{_n(left + plot_w)}" '
                     f'y1="{_n(y)}" y2="{_n(y)}"/>')
        parts.append(_text(left - 6, y + 4, f"{tick:,}", "end", "tick"))
    parts.append(_text(14, top + plot_h / 2, y_label, "middle", "",
                       f' transform="rotate(-90 14 {_n(top + plot_h / 2)})"'))
    slot = plot_w / len(labels)
    bar = max(1.0, slot * 0.72)
    every = label_every(len(labels), slot, max(text_width(lab, 11) for lab in labels))
    for i, label in enumerate(labels):
        x = left + i * slot + (slot - bar) / 2
        base = axis_y
        for k, s in enumerate(series):
            value = s.values[i]
            if value <= 0:
                continue
            h = value * scale
            base -= h
            parts.append(f'<rect x="{_n(x)}" y="{_n(base)}" width="{_n(bar)}" height="{_n(h)}" '
                         f'fill="url(#{chart_id}-p{k})" stroke="#fff" stroke-width="0.6">'
                         f"<title>{escape(f'{label} {s.name}: {value:,}')}</title></rect>")
        if (len(labels) - 1 - i) % every == 0:
            parts.append(_text(x + bar / 2, axis_y + 15, label, "middle", "tick"))
    parts.append(f'<line class="axis" x1="{_n(left)}" x2="{_n(left + plot_w)}" y1="{_n(axis_y)}" '
                 f'y2="{_n(axis_y)}"/>')
    parts.append(_text(left + plot_w / 2, axis_y + 34, x_label, "middle"))
    y = axis_y + 44
    for row in legend_rows:
        x = left
        for k, name in row:
            parts.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="14" height="14" fill="url(#{chart_id}-p{k})" '
                         'stroke="#333" stroke-width="0.6"/>')
            parts.append(_text(x + 19, y + 12, name))
            x += 19 + text_width(name) + 18
        y += 22
    parts.append("</svg>")
    return Markup("".join(parts))


def _legend_rows(series: Sequence[Series], room: float) -> list[list[tuple[int, str]]]:
    rows: list[list[tuple[int, str]]] = [[]]
    used = 0.0
    for k, s in enumerate(series):
        need = 19 + text_width(s.name) + 18
        if rows[-1] and used + need > room:
            rows.append([])
            used = 0.0
        rows[-1].append((k, s.name))
        used += need
    return rows if rows[0] else []


def bar_list(
    chart_id: str,
    title: str,
    desc: str,
    items: Sequence[tuple[str, int]],
    *,
    empty_text: str,
    width: int = 520,
) -> Markup:
    """Horizontal bars, one per (label, value), each labelled with its name and value: the delivery
    states at a glance (the bars share one scale, from 0 to the largest value)."""
    _check_id(chart_id)
    if any(value < 0 for _, value in items):
        raise ValueError("bar_list: a negative value")
    row_h, top = 28.0, 8.0
    height = top * 2 + row_h * max(1, len(items))
    biggest = max((value for _, value in items), default=0)
    if biggest == 0:
        return _empty(_open(chart_id, title, desc, width, 80), width, 80, empty_text)
    parts = _open(chart_id, title, desc, width, height)
    parts.append(_patterns(chart_id, len(items)))
    label_w = min(width * 0.45, max(text_width(label) for label, _ in items) + 12)
    value_w = max(text_width(f"{value:,}") for _, value in items) + 10
    room = width - label_w - value_w - 4
    for i, (label, value) in enumerate(items):
        y = top + i * row_h
        parts.append(_text(label_w - 8, y + row_h / 2 + 4, label, "end"))
        w = room * value / biggest
        if value > 0:
            parts.append(f'<rect x="{_n(label_w)}" y="{_n(y + 5)}" width="{_n(max(w, 1))}" '
                         f'height="{_n(row_h - 10)}" fill="url(#{chart_id}-p{i})"/>')
        parts.append(_text(label_w + w + 6, y + row_h / 2 + 4, f"{value:,}"))
    parts.append(f'<line class="axis" x1="{_n(label_w)}" x2="{_n(label_w)}" y1="{_n(top)}" '
                 f'y2="{_n(height - top)}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


__all__ = ["PALETTE", "PATTERNS", "Series", "bar_list", "label_every", "nice_step", "nice_ticks",
           "stack", "stacked_bars", "text_width"]
