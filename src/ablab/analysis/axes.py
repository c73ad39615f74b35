"""Axes that keep every variant readable: a collapsed variant (or a far floor) gets a panel of its own
beside the others instead of squashing them (a broken axis), and labels are moved apart with
adjustText so that none overlaps another or leaves the figure."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

# A point is far from the rest when it lies more than SPREAD x the variants' typical spread (their
# median absolute deviation, or their median CI half-width when larger) from their median.
SPREAD = 8.0
Range = tuple[float, float]


def _pad(low: float, high: float, scale: float) -> Range:
    width = high - low
    pad = 0.08 * width if width > 0 else max(scale, abs(low) * 0.01, 1e-6)
    return low - pad, high + pad


def panels(centres: Sequence[float], halves: Sequence[float], extras: Sequence[float] = ()) -> list[Range]:
    """x ranges, left to right: one for the bulk of the variants (`centres` with CI half-widths
    `halves`) and the references (`extras`) near them, and one on each side for what lies far below
    or above. One range when nothing is far."""
    values = np.asarray([c for c in centres if math.isfinite(c)], dtype=float)
    if not len(values):
        return [(0.0, 1.0)]
    widths = np.asarray([h for h in halves if math.isfinite(h)], dtype=float)
    middle = float(np.median(values))
    mad = float(np.median(np.abs(values - middle)))
    scale = max(mad, float(np.median(widths)) if len(widths) else 0.0, 1e-9 * max(abs(middle), 1.0))
    near = lambda v: abs(v - middle) <= SPREAD * scale  # noqa: E731
    spans = [
        (c - (h if math.isfinite(h) else 0), c + (h if math.isfinite(h) else 0))
        for c, h in zip(centres, halves)
    ]
    spans = [s for s in spans if math.isfinite(s[0])] + [(e, e) for e in extras if math.isfinite(e)]
    groups: dict[str, list[float]] = {"low": [], "main": [], "high": []}
    for low, high in spans:
        centre = (low + high) / 2
        side = "main" if near(centre) else ("low" if centre < middle else "high")
        groups[side] += [low, high] if side == "main" else [centre]
    return [_pad(min(g), max(g), scale) for g in (groups["low"], groups["main"], groups["high"]) if g]


def broken_x(figure, ranges: list[Range], rows: int = 1):
    """Side-by-side axes sharing y, one per range, the inner spines hidden and the breaks marked;
    the main (widest-content) panel gets the most room."""
    if len(ranges) == 1:
        ax = figure.add_subplot()
        ax.set_xlim(*ranges[0])
        return [ax]
    widths = [3 if i == main_index(ranges) else 1 for i in range(len(ranges))]
    axes = figure.subplots(1, len(ranges), sharey=True, gridspec_kw={"width_ratios": widths, "wspace": 0.05})
    for i, (ax, (low, high)) in enumerate(zip(axes, ranges)):
        ax.set_xlim(low, high)
        if i > 0:
            ax.spines["left"].set_visible(False)
            ax.tick_params(left=False)
            _mark(ax, 0)
        if i < len(ranges) - 1:
            ax.spines["right"].set_visible(False)
            _mark(ax, 1)
        ax.tick_params(axis="x", labelsize=7)
    return list(axes)


def main_index(ranges: list[Range]) -> int:
    """The panel that holds the bulk of the variants."""
    return 1 if len(ranges) == 3 else int(np.argmax([h - lo for lo, h in ranges]))


def _mark(ax, x: float) -> None:
    kwargs = {"transform": ax.transAxes, "color": "dimgray", "clip_on": False, "linewidth": 1}
    for y in (0, 1):
        ax.plot([x - 0.03, x + 0.03], [y - 0.02, y + 0.02], **kwargs)


def panel_of(value: float, ranges: list[Range]) -> int | None:
    """The index of the range holding `value`, if any."""
    return next((i for i, (low, high) in enumerate(ranges) if low <= value <= high), None)


def spread_labels(ax, texts: list) -> None:
    """Move the labels of one axes apart (adjustText), inside the axes."""
    if len(texts) < 2:
        return
    from adjustText import adjust_text

    ax.figure.canvas.draw()
    adjust_text(texts, ax=ax, ensure_inside_axes=True, expand=(1.1, 1.3))
