"""Plain SVG pieces the evaluation pictures are drawn with (`--plots DIR`).

A picture is lanes stacked over one time axis, PLOT_W pixels wide, each pixel a span of the
recording holding the highest value within it (`fold_max`: a short peak, the thing that
raises an alarm, stays visible). Calibrated scores are drawn as decades of rarity
(agent/core/calibration.py's `decades`). Every piece of text may come from an untrusted
file and is escaped; nothing is fetched, any browser opens the files.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.core.calibration import MAX_DECADES

PLOT_W = 900  # pixels across the time axis: spans of the recording
LEFT, RIGHT, TOP, LANE_H, GAP, BOTTOM = 130, 20, 54, 78, 14, 44
TICK_STEPS_S = (60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 43_200, 86_400)
MAX_TICKS = 12
HELD_GAPS = 3.0  # a value holds until the next sample unless it is this many intervals away
ALARM_LEVEL = "#d62728"  # dashed: where a lane alarms
FALSE_ALARM, WARNING, LEARNING, FAULT = "#d62728", "#2ca02c", "#e4e4e4", "#fdd9a0"
INDEX = "index.html"


def fold_max(times_s: np.ndarray, values: np.ndarray, duration_s: float) -> np.ndarray:
    """The highest value in each of PLOT_W equal spans of [0, duration_s] (NaN: none).

    Each value holds until the next sample, so samples sparser than the spans (a snapshot
    every 10 s over hours) draw a line, not dots; a gap over HELD_GAPS typical intervals
    stays a gap.
    """
    out = np.full(PLOT_W, np.nan)
    if times_s.size == 0:
        return out
    gaps = np.diff(times_s)
    typical = float(np.median(gaps)) if gaps.size else 0.0
    held = np.append(np.where(gaps <= HELD_GAPS * typical, gaps, 0.0), 0.0)
    first = np.clip((times_s / duration_s * PLOT_W).astype(np.int64), 0, PLOT_W - 1)
    last = np.clip(np.ceil((times_s + held) / duration_s * PLOT_W).astype(np.int64) - 1, first,
                   PLOT_W - 1)  # fmt: skip
    for a, b, value in zip(first, last, values, strict=True):
        if math.isfinite(value):
            out[a : b + 1] = np.fmax(out[a : b + 1], value)
    return out


def open_svg(lanes: int) -> tuple[str, float]:
    """The SVG element of a picture of `lanes` lanes, and where its time axis goes."""
    width = LEFT + PLOT_W + RIGHT
    axis_y = lane_top(lanes)
    height = axis_y + BOTTOM
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">\n'
        f'<rect width="{width}" height="{height}" fill="white"/>'
    ), axis_y


def lane_top(k: int) -> float:
    """The top edge of the k-th lane (0 first)."""
    return TOP + k * (LANE_H + GAP)


def heading(title: str, line: str) -> list[str]:
    """The picture's title and its one line of figures."""
    return [text(LEFT, 18, title, size=15, weight="bold"), text(LEFT, 38, line)]


def lane_frame(top: float, label: str, unit: str) -> list[str]:
    """A lane's background and its label on the left."""
    return [
        f'<rect x="{LEFT}" y="{top}" width="{PLOT_W}" height="{LANE_H}" fill="#fafafa" '
        'stroke="#ccc"/>',
        text(LEFT - 8, top + 16, label, anchor="end", weight="bold"),
        text(LEFT - 8, top + 32, unit, anchor="end", size=10),
    ]


def lane_y(values: np.ndarray, top: float, y_max: float) -> np.ndarray:
    """Pixel heights of values on a lane scaled 0 … y_max (clipped)."""
    return top + LANE_H - np.clip(values, 0.0, y_max) / y_max * LANE_H


def scale_top(*series: np.ndarray) -> float:
    """A lane's upper end: a little over its highest value, at least 1, and a little over
    MAX_DECADES (where a calibrated score's decades stop) at most."""
    finite = np.concatenate([s[np.isfinite(s)] for s in series])
    top = max(1.0, 1.15 * float(finite.max())) if finite.size else 1.0
    return min(top, 1.1 * MAX_DECADES)  # a capped value stays inside the lane


def band(
    start_s: float, end_s: float, top: float, height: float, scale: float, fill: str, title: str
) -> str:
    """A shaded span of time across a lane, named when hovered."""
    x0 = LEFT + start_s * scale
    return (
        f'<rect x="{x0:.1f}" y="{top}" width="{max(1.0, (end_s - start_s) * scale):.1f}" '
        f'height="{height}" fill="{fill}"><title>{escape(title)}</title></rect>'
    )


def alarm_mark(
    raised_s: float, end_s: float, top: float, scale: float, colour: str, title: str
) -> list[str]:
    """An alarm: a marker over the lane where it was raised and a bar while it was open."""
    x0 = LEFT + raised_s * scale
    width = max(1.0, (end_s - raised_s) * scale)
    said = f"<title>{escape(title)}</title>"
    return [
        f'<rect x="{x0:.1f}" y="{top + LANE_H - 8}" width="{width:.1f}" height="8" '
        f'fill="{colour}" fill-opacity="0.55">{said}</rect>',
        f'<path d="M{x0:.1f},{top - 1} l-5,-8 h10 z" fill="{colour}">{said}</path>',
    ]


def marker_line(
    at_s: float, top: float, bottom: float, scale: float, colour: str, label: str
) -> list[str]:
    """A vertical line across the lanes at a moment, labelled above them."""
    x = LEFT + at_s * scale
    anchor = "end" if x > LEFT + PLOT_W - 40 else "middle"  # the run's end: keep it inside
    return [
        f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="{colour}" '
        'stroke-dasharray="2 3"/>',
        text(x, top - 4, label, anchor=anchor, size=10),
    ]


def polylines(ys: np.ndarray, colour: str, dash: bool = False, width: float = 1.3) -> list[str]:
    """The series as lines, broken where it has no value (a dropout, before learning)."""
    xs = LEFT + np.arange(ys.size) + 0.5
    style = ' stroke-dasharray="4 3"' if dash else ""
    out = []
    for run in runs_of_finite(ys):
        if run.stop - run.start == 1:  # a lone span: a short tick shows it
            i = run.start
            points = f"{xs[i] - 0.5:.1f},{ys[i]:.1f} {xs[i] + 0.5:.1f},{ys[i]:.1f}"
        else:
            points = " ".join(f"{xs[i]:.1f},{ys[i]:.1f}" for i in range(run.start, run.stop))
        out.append(f'<polyline points="{points}" fill="none" stroke="{colour}" '
                   f'stroke-width="{width}"{style}/>')  # fmt: skip
    return out


def runs_of_finite(ys: np.ndarray) -> list[range]:
    """The index ranges where `ys` is finite, in order."""
    finite = np.concatenate([[False], np.isfinite(ys), [False]])
    edges = np.flatnonzero(np.diff(finite.astype(np.int8)))
    return [range(a, b) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def time_axis(duration_s: float, y: float, scale: float, legend: str) -> list[str]:
    """Ticks in minutes (hours past three) and the legend under them."""
    step = next((s for s in TICK_STEPS_S if duration_s / s <= MAX_TICKS), TICK_STEPS_S[-1])
    out = [f'<line x1="{LEFT}" y1="{y}" x2="{LEFT + PLOT_W}" y2="{y}" stroke="#888"/>']
    for at in range(0, int(duration_s) + 1, step):
        x = LEFT + at * scale
        label = f"{at / 3600:g} h" if duration_s > 3 * 3600 else f"{at / 60:g} min"
        out.append(f'<line x1="{x:.1f}" y1="{y}" x2="{x:.1f}" y2="{y + 5}" stroke="#888"/>')
        out.append(text(x, y + 18, label, anchor="middle", size=10))
    out.append(text(LEFT, y + 36, legend, size=10))
    return out


def text(
    x: float, y: float, words: str, anchor: str = "start", size: int = 12, weight: str = "normal"
) -> str:
    """A line of text, escaped."""
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" '
        f'font-weight="{weight}">{escape(words)}</text>'
    )


def escape(words: str) -> str:
    """Text from recorded files is untrusted: nothing in it may become markup."""
    return html.escape(words, quote=True)


def file_name(number: int, name: str) -> str:
    """A safe file name for a picture (a recording's name may hold any characters)."""
    return f"{number:04d}-{re.sub(r'[^A-Za-z0-9._-]+', '_', name)[:80]}.svg"


@dataclass(frozen=True, slots=True)
class Picture:
    """One drawn recording: its name, its SVG, its figures in a line, and whether the index
    lists it first (a false alarm, a miss)."""

    name: str
    body: str
    headline: str
    flagged: bool


def write_pictures(
    folder: Path, pictures: Iterable[Picture], noun: str, flag: str, figures: str = ""
) -> list[Path]:
    """One SVG per picture and `index.html`, which gives the run's `figures`, lists the
    flagged pictures (under `flag`) and then shows every picture in order; the files
    written, the index last."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[tuple[Picture, Path]] = []
    for number, picture in enumerate(pictures, 1):
        path = folder / file_name(number, picture.name)
        path.write_text(picture.body, encoding="utf-8")
        written.append((picture, path))
    items = "\n".join(
        f'<li><a href="#{escape(path.name)}">{escape(p.name)}</a>: {escape(p.headline)}</li>'
        for p, path in written
        if p.flagged
    )
    sections = "\n".join(
        f'<section id="{escape(path.name)}"><h2>{escape(p.name)}</h2>'
        f'<img src="{escape(path.name)}" alt="{escape(p.name)}" loading="lazy"></section>'
        for p, path in written
    )
    title = f"{len(written)} {noun}"
    flagged = sum(p.flagged for p, _ in written)
    index = folder / INDEX
    index.write_text(
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title>"
        "<style>body{font-family:sans-serif;margin:1em 2em}img{max-width:100%}"
        "h2{font-size:1em;margin-top:2em}</style></head><body>\n"
        f'<h1>{escape(title)}</h1>\n<p class="figures">{escape(figures)}</p>\n'
        f"<p>{escape(flag)}: {flagged}</p>\n<ul>\n{items}\n</ul>\n"
        f"{sections}\n</body></html>\n",
        encoding="utf-8",
    )
    return [*(path for _, path in written), index]
