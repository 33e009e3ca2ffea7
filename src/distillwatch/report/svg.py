"""Plots as inline SVG: no plotting library, no files, crisp in any browser.

Line charts (optionally log-scaled y, e.g. p-values against tokens read), bar charts (optionally
with confidence intervals) and labelled scatter plots. Inputs are plain sequences; output is an `<svg>` string.
"""

from __future__ import annotations

import math
from html import escape
from typing import Sequence

__all__ = ["line_chart", "bar_chart", "scatter_chart", "PALETTE"]

PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#4b5563", "#ca8a04"]
W, H = 640, 320
L, R, T, B = 64, 16, 36, 48


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=raw)
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step) + 1)]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    if abs(v) >= 1e4 or abs(v) < 1e-2:
        return f"{v:.0e}"
    return f"{v:g}"


def _frame(title: str, xlabel: str, ylabel: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
        f'role="img" aria-label="{escape(title)}" font-family="system-ui, sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="600">{escape(title)}</text>',
        f'<text x="{(L + W - R) / 2}" y="{H - 8}" text-anchor="middle">{escape(xlabel)}</text>',
        f'<text x="14" y="{(T + H - B) / 2}" text-anchor="middle" '
        f'transform="rotate(-90 14 {(T + H - B) / 2})">{escape(ylabel)}</text>',
    ]


def line_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    hlines: dict[str, float] | None = None,
) -> str:
    """One line per named series of (x, y); `hlines` draws labelled horizontal references."""
    pts = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if y is not None]
    refs = list((hlines or {}).values())
    if log_y:
        pts = [(x, y) for x, y in pts if y > 0]
        refs = [r for r in refs if r > 0]
    ty = (lambda v: math.log10(v)) if log_y else (lambda v: v)
    xs = [p[0] for p in pts] or [0.0, 1.0]
    ys = [ty(p[1]) for p in pts] + [ty(r) for r in refs] or [0.0, 1.0]
    x0, x1 = min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1
    y0, y1 = min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1
    pad = (y1 - y0) * 0.05
    y0, y1 = y0 - pad, y1 + pad
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)  # noqa: E731
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)  # noqa: E731
    out = _frame(title, xlabel, ylabel)
    for t in _ticks(y0, y1):
        label = _fmt(10**t) if log_y else _fmt(t)
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{label}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{H - B + 16}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="#374151"/>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="#374151"/>')
    for name, value in (hlines or {}).items():
        if log_y and value <= 0:
            continue
        y = sy(ty(value))
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{y:.1f}" y2="{y:.1f}" stroke="#6b7280" stroke-dasharray="4 3"/>')
        out.append(f'<text x="{W - R - 4}" y="{y - 4:.1f}" text-anchor="end" fill="#6b7280">{escape(name)}</text>')
    for i, (name, (xv, yv)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        coords = [(sx(x), sy(ty(y))) for x, y in zip(xv, yv) if y is not None and (not log_y or y > 0)]
        if coords:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            out.append(f'<polyline points="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
            out.extend(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in coords)
        out.append(f'<rect x="{L + 10}" y="{T + 4 + 16 * i}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{L + 24}" y="{T + 13 + 16 * i}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def bar_chart(
    labels: Sequence[str],
    values: dict[str, Sequence[float]],
    *,
    title: str,
    ylabel: str,
    errors: dict[str, Sequence[tuple[float, float]]] | None = None,
) -> str:
    """Grouped bars: one group per label, one bar per named series; `errors` are (low, high) intervals."""
    n_series = max(1, len(values))
    tops = [v for vs in values.values() for v in vs]
    tops += [hi for es in (errors or {}).values() for _, hi in es]
    y1 = max(tops + [1e-9]) * 1.1
    sy = lambda y: H - B - y / y1 * (H - T - B)  # noqa: E731
    group = (W - L - R) / max(1, len(labels))
    bar = group * 0.8 / n_series
    out = _frame(title, "", ylabel)
    for t in _ticks(0, y1):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for g, label in enumerate(labels):
        gx = L + g * group + group * 0.1
        fit = max(4, int(group / 6.5))
        short = label if len(label) <= fit else label[: fit - 1] + "…"
        out.append(f'<text x="{gx + group * 0.4:.1f}" y="{H - B + 16}" text-anchor="middle">{escape(short)}'
                   f'<title>{escape(label)}</title></text>')
        for s, (name, vs) in enumerate(values.items()):
            x, v = gx + s * bar, vs[g]
            out.append(f'<rect x="{x:.1f}" y="{sy(v):.1f}" width="{bar * 0.9:.1f}" height="{sy(0) - sy(v):.1f}" '
                       f'fill="{PALETTE[s % len(PALETTE)]}"><title>{escape(name)}: {v:.3g}</title></rect>')
            if errors and name in errors:
                lo, hi = errors[name][g]
                cx = x + bar * 0.45
                out.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="{sy(lo):.1f}" y2="{sy(hi):.1f}" stroke="#111827"/>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="#374151"/>')
    longest = max((len(name) for name in values), default=0)
    out.append(f'<rect x="{L + 6}" y="{T}" width="{24 + 7 * longest}" height="{16 * len(values) + 6}" fill="white" '
               'fill-opacity="0.85"/>')
    for s, name in enumerate(values):
        out.append(f'<rect x="{L + 10}" y="{T + 4 + 16 * s}" width="10" height="10" fill="{PALETTE[s % len(PALETTE)]}"/>')
        out.append(f'<text x="{L + 24}" y="{T + 13 + 16 * s}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def scatter_chart(
    series: dict[str, tuple[Sequence[float], Sequence[float], Sequence[str]]],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    x_range: tuple[float, float] | None = None,
    y_range: tuple[float, float] | None = None,
) -> str:
    """One colour per named series of (x, y, point labels); each point is labelled with its text."""
    xs = [x for xv, _, _ in series.values() for x in xv] or [0.0, 1.0]
    ys = [y for _, yv, _ in series.values() for y in yv] or [0.0, 1.0]
    x0, x1 = x_range or (min(xs), max(xs) if max(xs) > min(xs) else min(xs) + 1)
    y0, y1 = y_range or (min(ys), max(ys) if max(ys) > min(ys) else min(ys) + 1)
    sx = lambda x: L + (x - x0) / (x1 - x0) * (W - L - R)  # noqa: E731
    sy = lambda y: H - B - (y - y0) / (y1 - y0) * (H - T - B)  # noqa: E731
    out = _frame(title, xlabel, ylabel)
    for t in _ticks(y0, y1):
        out.append(f'<line x1="{L}" x2="{W - R}" y1="{sy(t):.1f}" y2="{sy(t):.1f}" stroke="#e5e7eb"/>')
        out.append(f'<text x="{L - 6}" y="{sy(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t in _ticks(x0, x1):
        out.append(f'<text x="{sx(t):.1f}" y="{H - B + 16}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<line x1="{L}" x2="{L}" y1="{T}" y2="{H - B}" stroke="#374151"/>')
    out.append(f'<line x1="{L}" x2="{W - R}" y1="{H - B}" y2="{H - B}" stroke="#374151"/>')
    for i, (name, (xv, yv, labels)) in enumerate(series.items()):
        color = PALETTE[i % len(PALETTE)]
        for x, y, label in zip(xv, yv, labels):
            out.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="5" fill="{color}" fill-opacity="0.8">'
                       f'<title>{escape(label)}: ({x:.3g}, {y:.3g})</title></circle>')
            out.append(f'<text x="{sx(x) + 7:.1f}" y="{sy(y) + 4:.1f}" fill="#374151">{escape(label[:20])}</text>')
        out.append(f'<rect x="{L + 10}" y="{T + 4 + 16 * i}" width="10" height="10" fill="{color}"/>')
        out.append(f'<text x="{L + 24}" y="{T + 13 + 16 * i}">{escape(name)}</text>')
    out.append("</svg>")
    return "\n".join(out)
