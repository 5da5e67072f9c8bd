"""Charts as inline SVG made on the server: no chart library, no CDN, readable without script.

Each chart has a <title> and an aria-label; pages put the same figures in a table beside it.
"""
from __future__ import annotations

import math

from markupsafe import Markup, escape

CHANNEL_COLORS = {"sms": "#0ea5e9", "push": "#f59e0b", "email": "#8b5cf6", "inapp": "#10b981"}
PALETTE = ("#4f46e5", "#0ea5e9", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#14b8a6", "#64748b")

WIDTH, HEIGHT = 800, 220
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24


def color_for(key: str, position: int) -> str:
    return CHANNEL_COLORS.get(key) or PALETTE[position % len(PALETTE)]


def nice_max(value: float) -> float:
    """A round axis maximum at or above `value` (1, 2, 5 × 10ⁿ)."""
    if value <= 0:
        return 1
    exponent = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if value <= step * exponent:
            return step * exponent
    return 10 * exponent


def _frame(title: str, top: float, labels: list[str], every: int, x_of, width: int = WIDTH) -> list[str]:
    parts = [f'<svg class="chart" viewBox="0 0 {width} {HEIGHT}" role="img" aria-label="{escape(title)}" '
             f'preserveAspectRatio="xMidYMid meet"><title>{escape(title)}</title>']
    plot = HEIGHT - TOP - BOTTOM
    for fraction in (0, .5, 1):
        y = TOP + plot * (1 - fraction)
        parts.append(f'<line class="grid-line" x1="{LEFT}" x2="{width - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
        value = top * fraction
        text = f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>')
    for n, label in enumerate(labels):
        if n % every == 0 or n == len(labels) - 1 and len(labels) < 4:
            parts.append(f'<text x="{x_of(n):.1f}" y="{HEIGHT - 6}" text-anchor="middle">{escape(label)}</text>')
    return parts


def stacked_bars(labels: list[str], series: dict[str, list[int]], title: str) -> Markup:
    """One bar per label, stacked by series (e.g. messages per day, by channel)."""
    count = max(len(labels), 1)
    totals = [sum(values[n] for values in series.values()) for n in range(len(labels))]
    top = nice_max(max(totals, default=0))
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    bar = max(slot * .7, 1)
    every = max(1, math.ceil(count / 8))
    parts = _frame(title, top, labels, every, lambda n: LEFT + slot * n + slot / 2)
    for n in range(len(labels)):
        base = 0
        for position, (key, values) in enumerate(series.items()):
            value = values[n]
            if not value:
                continue
            h = plot_h * value / top
            y = TOP + plot_h - plot_h * base / top - h
            parts.append(f'<rect x="{LEFT + slot * n + (slot - bar) / 2:.1f}" y="{y:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" rx="1.5" fill="{color_for(key, position)}">'
                         f'<title>{escape(labels[n])} {escape(key)}: {value:,}</title></rect>')
            base += value
    parts.append("</svg>")
    return Markup("".join(parts))


def grouped_bars(labels: list[str], series: dict[str, list[int]], title: str, width: int = WIDTH) -> Markup:
    """Bars side by side per label, one per series (e.g. sent, delivered, opened per hour).
    A narrower `width` (for a half-width card) keeps the text readable."""
    count = max(len(labels), 1)
    top = nice_max(max((max(v, default=0) for v in series.values()), default=0))
    plot_w, plot_h = width - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / count
    bar = max(min(slot * .8 / max(len(series), 1), 40), 1)
    every = max(1, math.ceil(count / max(2, width // 100)))
    parts = _frame(title, top, labels, every, lambda n: LEFT + slot * n + slot / 2, width)
    for n in range(len(labels)):
        start = LEFT + slot * n + (slot - bar * len(series)) / 2
        for position, (key, values) in enumerate(series.items()):
            h = plot_h * values[n] / top
            parts.append(f'<rect x="{start + bar * position:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                         f'height="{h:.1f}" rx="1.5" fill="{color_for(key, position)}">'
                         f'<title>{escape(labels[n])} {escape(key)}: {values[n]:,}</title></rect>')
    parts.append("</svg>")
    return Markup("".join(parts))


def horizontal_bars(rows: list[tuple[str, float, str]], title: str, unit: str = "") -> Markup:
    """Labelled bars, longest = the largest value (funnels, statuses)."""
    row_h, label_w, width = 28, 110, 460
    height = row_h * max(len(rows), 1) + 4
    top = max((value for _, value, _ in rows), default=0) or 1
    parts = [f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">'
             f'<title>{escape(title)}</title>']
    for n, (label, value, color) in enumerate(rows):
        y = n * row_h + 4
        w = (width - label_w - 60) * value / top
        parts.append(f'<text x="{label_w - 8}" y="{y + 15}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{row_h - 8}" rx="3" fill="{color}"/>')
        shown = f"{value:,.1f}{unit}" if unit else f"{value:,.0f}"
        parts.append(f'<text x="{label_w + max(w, 1) + 6:.1f}" y="{y + 15}">{shown}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(keys: list[str], names: dict[str, str] | None = None) -> Markup:
    items = "".join(
        f'<li style="--swatch:{color_for(key, n)}">{escape((names or {}).get(key, key))}</li>'
        for n, key in enumerate(keys))
    return Markup(f'<ul class="legend">{items}</ul>')


def intervals(rows: list[tuple[str, float, float, float, str]], title: str) -> Markup:
    """Estimates with their confidence intervals around zero, one row each: (label, low,
    estimate, high, colour), values in percentage points (lift against a holdout)."""
    row_h, label_w, width, pad = 30, 110, 460, 14
    height = row_h * max(len(rows), 1) + 26
    reach = max((max(abs(low), abs(high)) for _, low, _, high, _ in rows), default=0)
    # A difference of two rates lies within ±100 points; a small sample's interval may not.
    top = min(nice_max(reach), 100) if reach else 1
    plot_w = width - label_w - 2 * pad

    def x(value: float) -> float:
        value = max(-top, min(top, value))
        return label_w + pad + plot_w * (value + top) / (2 * top)

    parts = [f'<svg class="chart bars intervals" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
             f'<line class="zero-line" x1="{x(0):.1f}" x2="{x(0):.1f}" y1="2" y2="{height - 20}"/>']
    for value, anchor in ((-top, "start"), (0, "middle"), (top, "end")):
        text = f"{value:+g} pts" if value else "0"
        parts.append(f'<text x="{x(value):.1f}" y="{height - 6}" text-anchor="{anchor}">{text}</text>')
    for n, (label, low, estimate, high, color) in enumerate(rows):
        y = n * row_h + 16
        parts.append(f'<text x="{label_w - 8}" y="{y + 4}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<line x1="{x(low):.1f}" x2="{x(high):.1f}" y1="{y}" y2="{y}" stroke="{color}" '
                     f'stroke-width="3" stroke-linecap="round"/>')
        parts.append(f'<circle cx="{x(estimate):.1f}" cy="{y}" r="5" fill="{color}">'
                     f'<title>{escape(label)}: {estimate:+.1f} pts ({low:+.1f} to {high:+.1f})</title></circle>')
    parts.append("</svg>")
    return Markup("".join(parts))
