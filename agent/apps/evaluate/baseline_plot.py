"""One picture per run of `evaluate baseline --plots DIR`, and a page that shows them all.

A run to failure is read best as a picture: when the learned baseline's score left healthy,
when it alarmed, and how long before the end. Each picture has two lanes on the run's time
axis: the learned baseline's persisted score in decades of rarity (−log10 of the chance that
a healthy window of this machine scores as high) with its threshold dashed, and the anchor
rule's departure (RMS or kurtosis above the learned mean, in learned standard deviations)
with its 3-sd limit dashed. The learned part is grey, half of life and the failure are marked,
and each alarm is drawn where it was raised and while it stayed open: red when it counts as
false (first half of a failing run; any alarm of a healthy run), green when it warns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate import svg
from agent.apps.evaluate.alarm_spans import AlarmSpan
from agent.core.calibration import decades

LEARNED_COLOUR, RULE_COLOUR = "#9467bd", "#555"
LEGEND = ("grey: learned part · ▼ and bar: alarm (red false, green warning) · dashed: "
          "alarm level")  # fmt: skip


@dataclass(frozen=True, slots=True)
class RunPicture:
    """One run's scores and alarms, ready to draw."""

    name: str
    times_s: np.ndarray  # every window's start
    end_s: float
    learned: int  # windows learned on (the first ones)
    ends_in_failure: bool
    values: np.ndarray  # the learned baseline's persisted score of each later window
    threshold: float
    alarms: list[AlarmSpan]
    rule_departure: np.ndarray  # every window, in learned sd
    rule_level: float
    rule_alarms: list[AlarmSpan]
    report: dict[str, Any]  # its `per_run` entry
    rule_report: dict[str, Any]  # the anchor's

    @property
    def half_s(self) -> float:
        """Half of the run's life."""
        return self.end_s / 2.0

    @property
    def flagged(self) -> bool:
        """A false alarm, or a failure without a warning."""
        return bool(self.report["false_alarms"]) or (
            self.ends_in_failure and not self.report["alarmed"]
        )

    def is_false(self, alarm: AlarmSpan) -> bool:
        """Counted as false: any alarm of a healthy run, a first-half one of a failing run."""
        return not self.ends_in_failure or alarm.raised_s < self.half_s


def run_svg(p: RunPicture) -> str:
    """The whole picture of one run."""
    opening, axis_y = svg.open_svg(2)
    scale = svg.PLOT_W / p.end_s
    learned_until = float(p.times_s[p.learned])
    later = p.times_s[p.learned :]
    parts = [opening, *svg.heading(p.name, headline(p))]
    rarity = svg.fold_max(later, decades(p.values), p.end_s)
    level = np.full(svg.PLOT_W, float(decades(p.threshold)))
    departure = svg.fold_max(later, p.rule_departure[p.learned :], p.end_s)
    rule_level = np.full(svg.PLOT_W, p.rule_level)
    lanes = [
        ("learned baseline", "decades", rarity, level, LEARNED_COLOUR, p.alarms),
        ("anchor rule", "sd", departure, rule_level, RULE_COLOUR, p.rule_alarms),
    ]
    for k, (label, unit, values, threshold, colour, alarms) in enumerate(lanes):
        top = svg.lane_top(k)
        y_max = svg.scale_top(values, threshold)
        parts += svg.lane_frame(top, label, f"{unit}, 0–{y_max:.3g}")
        parts.append(svg.band(0, learned_until, top, svg.LANE_H, scale, svg.LEARNING, "learned"))
        parts += svg.polylines(svg.lane_y(threshold, top, y_max), svg.ALARM_LEVEL, dash=True,
                               width=1)  # fmt: skip
        parts += svg.polylines(svg.lane_y(values, top, y_max), colour)
        for alarm in alarms:
            parts += alarm_marks(p, label, alarm, top, scale)
    bottom = svg.lane_top(len(lanes)) - svg.GAP
    parts += svg.marker_line(p.half_s, svg.TOP, bottom, scale, "#888", "half of life")
    if p.ends_in_failure:
        parts += svg.marker_line(p.end_s, svg.TOP, bottom, scale, svg.FALSE_ALARM, "failure")
    parts += svg.time_axis(p.end_s, axis_y, scale, LEGEND)
    parts.append("</svg>")
    return "\n".join(parts)


def headline(p: RunPicture) -> str:
    """The run's figures in one line, the learned baseline's and then the anchor's."""
    life = "ends in failure" if p.ends_in_failure else "healthy run"
    return " · ".join(
        [f"{life} at {p.end_s / 3600:.2f} h", f"learned on {p.learned} windows",
         "learned: " + verdict(p.report), "anchor: " + verdict(p.rule_report)]
    )  # fmt: skip


def verdict(report: dict[str, Any]) -> str:
    """Alarms, false alarms and lead time of one `per_run` entry."""
    said = f"alarms {report['alarms']}, false {report['false_alarms']}"
    if report["lead_time_s"] is not None:
        said += f", lead {report['lead_time_s'] / 60:.0f} min"
    elif report["ends_in_failure"]:
        said += ", no warning"
    return said


def alarm_marks(p: RunPicture, lane: str, alarm: AlarmSpan, top: float, scale: float) -> list[str]:
    """One alarm of a lane, red when it counts as false."""
    false = p.is_false(alarm)
    kind = "false alarm" if false else "warning"
    title = f"{lane}: {kind} raised at {alarm.raised_s / 60:.1f} min, " + (
        f"cleared at {alarm.cleared_s / 60:.1f} min" if alarm.cleared_s is not None else
        "still open at the end"
    )  # fmt: skip
    colour = svg.FALSE_ALARM if false else svg.WARNING
    return svg.alarm_mark(alarm.raised_s, alarm.end(p.end_s), top, scale, colour, title)


def write_plots(
    folder: Path, pictures: Iterable[RunPicture], ours: dict[str, Any], rule: dict[str, Any]
) -> list[Path]:
    """One SVG per run and an index page with both summaries' figures showing them in order;
    the files written."""
    drawn = (svg.Picture(p.name, run_svg(p), headline(p), p.flagged) for p in pictures)
    line = f"learned baseline: {figures(ours)} · anchor rule: {figures(rule)}"
    return svg.write_pictures(folder, drawn, "runs", "With a false alarm or no warning", line)


def figures(summary: dict[str, Any]) -> str:
    """One summary of `evaluate baseline` (the learned baseline's or the anchor's), briefly."""
    lead = summary["lead_time_s"]["p50"]
    said = f"{summary['alarmed_runs']} of {summary['runs_ending_in_failure']} failures warned, "
    said += f"{summary['false_alarms_first_half_total']} false alarms in first halves"
    if (rate := summary["interval_95"]["false_alarms_first_half_per_hour"]) is not None:
        said += f" (95 %: {rate[0]:g}–{rate[1]:g} per hour)"
    return said + (f", lead p50 {lead / 60:.0f} min" if lead is not None else "")
