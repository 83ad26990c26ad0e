"""One picture per replayed episode, and a page that shows them all (`--plots DIR`).

Why an alarm was raised, or why a fault was missed, is quicker seen than read from JSON:
each picture is the episode on one time axis, a lane for the fused decision and one per
sense, the ground truth's fault windows shaded, the learning period greyed, and the device's
alarms marked on the fused lane (a false one in red, one that detects a fault in green), each
sense's own alarms, decided alone as `per_sense_alone` counts them, on its lane.
Once a device has learned, each lane shows −log10(1 − score): for a calibrated sense, how
rare the score is for this machine, in decades, with the level at which it alarms dashed;
before it learns, or in an episode without learning, lanes show the shipped scores from 0
to 1.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate import svg
from agent.apps.evaluate.alarm_spans import AlarmSpan
from agent.apps.evaluate.episodes.format import STREAMS, EpisodeSpec
from agent.apps.evaluate.episodes.scoring import EpisodeFigures, is_false_alarm
from agent.apps.evaluate.episodes.timeline import Timeline
from agent.core.calibration import decades
from agent.core.calibration_check import times_promised

FUSED = "fused"
COLOURS = {FUSED: "#222", "image": "#1f77b4", "temperature": "#d62728", "audio": "#9467bd",
           "sensor": "#2ca02c"}  # fmt: skip
LEGEND = (
    "shaded: fault (truth) · grey: learning · ▼ and bar: alarm (red false, green detecting; "
    "on a sense's lane, that sense decided alone) · dashed: alarm level"
)


@dataclass(frozen=True, slots=True)
class Plotted:
    """One episode ready to draw."""

    name: str
    spec: EpisodeSpec
    timeline: Timeline
    alarms: list[AlarmSpan]  # the device's
    figures: EpisodeFigures
    grace_s: float
    alone: dict[str, list[AlarmSpan]]  # each sense decided alone (`per_sense_alone`)


def episode_svg(p: Plotted) -> str:
    """The whole picture of one episode."""
    lanes = [FUSED, *p.timeline.senses]
    opening, axis_y = svg.open_svg(len(lanes))
    scale = svg.PLOT_W / p.timeline.duration_s
    parts = [opening, *svg.heading(p.name, headline(p))]
    for k, lane in enumerate(lanes):
        parts += lane_svg(p, lane, svg.lane_top(k), scale)
    parts += svg.time_axis(p.timeline.duration_s, axis_y, scale, LEGEND)
    parts.append("</svg>")
    return "\n".join(parts)


def headline(p: Plotted) -> str:
    """The episode's figures in one line."""
    f = p.figures
    found = f"{f.detected} of {f.faults} faults detected" if f.faults else "healthy (no fault)"
    said = [found, f"{f.false_alarms} false alarms"]
    delays = [f"{d:g} s" if d is not None else "missed" for d in f.time_to_detect_s]
    if delays:
        said.append("time to detect " + ", ".join(delays))
    said.append(f"learned at {f.learned_at_s:g} s" if f.learned_at_s is not None else "no learning")
    return " · ".join(said)


def lane_svg(p: Plotted, lane: str, top: float, scale: float) -> list[str]:
    """One lane: learning, fault windows, the score, its alarm level, the alarms."""
    values, level = lane_series(p.timeline, lane)
    learned = p.figures.learned_at_s
    if learned is not None:
        values = np.where(span_ends(p.timeline) >= learned, values, np.nan)
        values, level = decades(values), decades(level)
        y_max = svg.scale_top(values, level)
        unit = f"decades, 0–{y_max:.3g}"
    else:
        y_max, unit = 1.0, "score, 0–1"
    out = svg.lane_frame(top, "fused decision" if lane == FUSED else lane, unit)
    if p.spec.learn_s > 0:
        out.append(svg.band(0, p.spec.learn_s, top, svg.LANE_H, scale, svg.LEARNING, "learning"))
    for fault in p.spec.faults:
        if lane == FUSED or lane in (STREAMS[s] for s in fault.senses):
            title = f"{fault.type} fault, {fault.start_s:g}–{fault.end_s:g} s"
            out.append(svg.band(fault.start_s, fault.end_s, top, svg.LANE_H, scale, svg.FAULT,
                                title))  # fmt: skip
    out += svg.polylines(svg.lane_y(level, top, y_max), svg.ALARM_LEVEL, dash=True, width=1)
    out += svg.polylines(svg.lane_y(values, top, y_max), COLOURS.get(lane, "#555"))
    for alarm in p.alarms if lane == FUSED else p.alone.get(lane, []):
        out += alarm_marks(p, alarm, top, scale, "" if lane == FUSED else f"{lane} alone: ")
    return out


def lane_series(timeline: Timeline, lane: str) -> tuple[np.ndarray, np.ndarray]:
    """A lane's highest score per span and the level it alarms at (NaN: none)."""
    if lane == FUSED:
        return timeline.fused, timeline.threshold
    values = timeline.values[:, timeline.senses.index(lane)]
    level = timeline.sense_thresholds.get(lane, math.nan)
    return values, np.full(values.shape, level)


def span_ends(timeline: Timeline) -> np.ndarray:
    """The end of each span, in episode seconds."""
    return (np.arange(svg.PLOT_W) + 1) * timeline.duration_s / svg.PLOT_W


def alarm_marks(p: Plotted, alarm: AlarmSpan, top: float, scale: float, whose: str) -> list[str]:
    """One alarm, the device's or (`whose` says) a sense's decided alone, red when false."""
    false = is_false_alarm(alarm, p.spec, p.grace_s)
    kind = "false alarm" if false else "alarm"
    title = f"{whose}{kind} raised at {alarm.raised_s:g} s by {alarm.by or 'unknown'}, " + (
        f"cleared at {alarm.cleared_s:g} s" if alarm.cleared_s is not None else "still open"
    )
    colour = svg.FALSE_ALARM if false else svg.WARNING
    return svg.alarm_mark(alarm.raised_s, alarm.end(p.timeline.duration_s), top, scale, colour,
                          title)  # fmt: skip


def write_plots(folder: Path, plotted: Iterable[Plotted], result: dict[str, Any]) -> list[Path]:
    """One SVG per episode and an index page with `result`'s figures showing them in order;
    the files written."""
    drawn = (
        svg.Picture(p.name, episode_svg(p), headline(p),
                    bool(p.figures.false_alarms) or p.figures.detected < p.figures.faults)
        for p in plotted
    )  # fmt: skip
    noun, flag = "episodes replayed", "With a false alarm or a missed fault"
    return svg.write_pictures(folder, drawn, noun, flag, figures(result))


def figures(result: dict[str, Any]) -> str:
    """The device's figures over every episode (`evaluate episodes`' JSON), in one line."""
    delays = result["time_to_detect_s"]
    said = [
        f"{result['detected']} of {result['faults']} faults detected",
        f"{result['false_alarms']} false alarms "
        f"({result['false_alarms_per_hour']} per healthy hour{between(result)})",
        f"alarm open {100 * (result['alarm_open_healthy_fraction'] or 0):.2f} % of healthy time",
    ]
    if delays["p50"] is not None:
        said.append(f"time to detect p50 {delays['p50']:g} s, p90 {delays['p90']:g} s")
    if checked := result.get("calibration_check", {}).get("senses"):
        said.append(calibration_line(checked))
    return " · ".join(said)


def between(result: dict[str, Any]) -> str:
    """The false-alarm rate's 95 % interval for a headline (", 95 % within a–b"), if known."""
    interval = result.get("interval_95", {}).get("false_alarms_per_hour")
    return "" if interval is None else f", 95 % within {interval[0]:g}–{interval[1]:g}"


def calibration_line(senses: dict[str, Any]) -> str:
    """The calibration check over every episode: per sense, how many times as often as
    promised its scores reached each level in healthy time (1: as promised)."""
    levels = "/".join(f"10^{level['decades']}" for level in next(iter(senses.values()))["levels"])
    ratios = [
        f"{sense} " + "/".join(times_promised(level["ratio"]) for level in check["levels"])
        for sense, check in senses.items()
    ]
    return f"rare scores in healthy time, × promised at 1 in {levels}: " + ", ".join(ratios)
