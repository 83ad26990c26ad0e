"""`edge-agent evaluate baseline`: learn a machine's healthy vibration, then watch it fail.

For each run (agent/apps/evaluate/runs.py) the first part (`--learn`, default 10 %) is learned
as healthy (agent/senses/audio/baseline.py); every later window is scored, calibrated, made to
persist (`persisted`: it counts only when two thirds of the last minute's windows reach it) and
passed through fusion and the agent's alarm lifecycle on the run's own clock, exactly as the
agent decides. The anchor to beat, `baseline_rule`, is a plain rule learned on the same part:
RMS or kurtosis above mean + 3 sd, raised after 3 windows in a row and cleared after 3 below.

Scoring (the keys of the JSON):
- the first half of life is [end of learning, half the run); the second half, the rest;
- `false_alarms_first_half`: alarms raised in the first half; `false_alarms`: every alarm that
  is not a warning of the failure (in a healthy run, every alarm after learning; in a run that
  ends in failure, those raised in the first half);
- `alarmed`: a run ending in failure had an alarm raised in its second half, or one still open
  at half-way; `lead_time_s` = end of run - the earlier of those two moments;
- `alarm_open_first_half_fraction`: the share of all first halves with an alarm open, so an
  alarm left open cannot pass for a warning;
- `interval_95`: exact 95 % intervals (agent/apps/evaluate/intervals.py), [low, high], of the
  share of runs ending in failure without a warning (`failures_not_warned`, Clopper–Pearson)
  and of first-half false alarms per hour (`false_alarms_first_half_per_hour`, Garwood over
  the first halves' hours): how little a handful of runs can show;
- `calibration_check` (`all_runs`, and `per_run` by name): whether the learned baseline's calibrated
  scores keep their promise on the healthy part after learning (the first half of life, or
  a healthy run's whole): each window's own calibrated score (before persistence) counted as
  the agent counts it (agent/core/calibration_check.py).

`--plots DIR` also draws each run (baseline_plot.py) and an `index.html` showing them.
"""

from __future__ import annotations

import math
import sys
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate.alarm_spans import AlarmSpan, spans_of
from agent.apps.evaluate.baseline_plot import RunPicture, write_plots
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.intervals import proportion_interval, rate_interval, rounded
from agent.apps.evaluate.runs import Run, learn_windows, read_runs
from agent.config.decision import AlarmConfig, FusionConfig
from agent.core.alarms import AlarmTracker, sequence_from
from agent.core.calibration import SECONDS_PER_DAY, threshold_for
from agent.core.calibration_check import SenseCheck
from agent.core.fusion import fuse
from agent.core.samples import Score
from agent.senses.audio.baseline import VibrationBaseline
from agent.senses.audio.config import SENSE

TARGET_FALSE_ALARMS_PER_DAY = 1.0
PERSISTENCE_S = 60.0  # a fault lasts; a knock or a load step does not fill a minute
PERSISTENCE_SHARE = 2 / 3  # of the windows in that minute that must reach the score
RULE_SIGMAS = 3.0
RULE_RUN = 3  # the anchor raises (and clears) after this many windows in a row


@dataclass(frozen=True, slots=True)
class Watched:
    """The learned baseline over one run: its alarms and the scores it decided them on."""

    alarms: list[AlarmSpan]
    values: np.ndarray  # the persisted calibrated score of each window after learning
    threshold: float
    singles: np.ndarray  # each window's own calibrated score after learning


def evaluate(
    data: Path,
    learn: str = "0.1",
    target_per_day: float = TARGET_FALSE_ALARMS_PER_DAY,
    progress: Callable[[str], None] | None = None,
    plots: Path | None = None,
) -> dict[str, Any]:
    """The learned baseline and the anchor rule over every run under `data`; with `plots`, a
    picture of each run there (baseline_plot.py)."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    ours, rule, pictures = [], [], []
    checked, each_checked = SenseCheck(), {}
    for run in read_runs(data):
        count = learn_windows(run, learn)
        say(f"{run.name}: learning on {count} of {len(run.times_s)} windows")
        watched = learned_watch(run, count, target_per_day)
        departure = rule_departure(run, count)
        anchor = rule_alarms(run, count, departure)
        healthy = healthy_check(run, count, watched.singles)
        checked.merge(healthy)
        each_checked[run.name] = healthy.view()
        ours.append(run_report(run, count, watched.alarms))
        rule.append(run_report(run, count, anchor))
        say(f"{run.name}: {len(watched.alarms)} alarms")
        if plots is not None:
            pictures.append(
                RunPicture(run.name, run.times_s, run.end_s, count, run.ends_in_failure,
                           watched.values, watched.threshold, watched.alarms, departure,
                           RULE_SIGMAS, anchor, ours[-1], rule[-1])
            )  # fmt: skip
    if plots is not None:
        written = write_plots(plots, pictures, summary(ours), summary(rule))
        say(f"runs drawn: {len(written) - 1}; open {written[-1]}")
    return {
        **summary(ours),
        "calibration_check": {"all_runs": checked.view(), "per_run": each_checked},
        "learn": learn,
        "target_false_alarms_per_day": target_per_day,
        "baseline_rule": summary(rule),
    }


def learned_watch(run: Run, count: int, target_per_day: float) -> Watched:
    """Alarms of the learned, calibrated baseline through fusion and the alarm lifecycle."""
    try:
        baseline = VibrationBaseline.learn(run.windows[:count], run.rate)
    except ValueError as exc:
        raise DatasetError(f"{run.name}: cannot learn on {count} windows: {exc}") from exc
    interval = float(np.median(np.diff(run.times_s))) if len(run.times_s) > 1 else 1.0
    fusion = FusionConfig(
        weights={SENSE: 1.0},
        threshold=threshold_for(target_per_day, SECONDS_PER_DAY / interval),
        stale_after_s=3 * interval,
    )
    tracker = AlarmTracker(run.name, AlarmConfig(min_hold_s=0.0), sequence_from())
    span = max(1, round(PERSISTENCE_S / interval))
    recent: deque[float] = deque([0.0] * span, maxlen=span)  # the learned windows: healthy
    transitions = []
    values = np.empty(len(run.times_s) - count)
    singles = np.empty_like(values)
    for k, (window, at) in enumerate(zip(run.windows[count:], run.times_s[count:], strict=True)):
        singles[k] = baseline.score(window)
        recent.append(singles[k])
        values[k] = value = persisted(recent)
        score = Score(run.name, SENSE, value, "departure", {}, float(at), float(at))
        decision = fuse(run.name, {SENSE: score}, fusion, [SENSE], float(at))
        if (transition := tracker.update(decision, float(at))) is not None:
            transitions.append((transition, float(at)))
    return Watched(list(spans_of(transitions)), values, fusion.threshold, singles)


def healthy_check(run: Run, count: int, singles: np.ndarray) -> SenseCheck:
    """The calibration check over the run's healthy part after learning: the first half of
    life of a run that ends in failure, all of a healthy run (agent/core/calibration_check.py)."""
    end = run.end_s / 2.0 if run.ends_in_failure else math.inf
    check = SenseCheck()
    for value, at in zip(singles, run.times_s[count:], strict=True):
        if at < end:
            check.add(float(value))
    return check


def persisted(recent: Iterable[float]) -> float:
    """The highest score that `PERSISTENCE_SHARE` of the recent windows reach.

    Raising at a threshold then needs that share of the windows over it, and clearing below
    threshold − hysteresis needs more than the rest under that: one window decides neither.
    """
    ranked = sorted(recent, reverse=True)
    return ranked[math.ceil(PERSISTENCE_SHARE * len(ranked)) - 1]


def rule_departure(run: Run, count: int) -> np.ndarray:
    """How far above its learned mean the anchor's RMS or kurtosis is, in learned sd (the
    larger of the two; the anchor alarms past RULE_SIGMAS), for every window."""
    features = rule_features(run)
    mean, sd = features[:count].mean(axis=0), features[:count].std(axis=0)
    return np.max((features - mean) / np.maximum(sd, 1e-12), axis=1)


def rule_features(run: Run) -> np.ndarray:
    """RMS and kurtosis of every window, [n, 2]."""
    x = run.windows.astype(np.float64)
    x = x - x.mean(axis=1, keepdims=True)
    power = np.mean(x * x, axis=1)
    kurtosis = np.mean(x**4, axis=1) / np.maximum(power * power, 1e-24)
    return np.stack([np.sqrt(power), kurtosis], axis=1)


def rule_alarms(run: Run, count: int, departure: np.ndarray) -> list[AlarmSpan]:
    """The anchor: RMS or kurtosis over mean + 3 sd of the learned part (`rule_departure`
    over RULE_SIGMAS), 3 in a row."""
    over = departure[count:] > RULE_SIGMAS
    alarms, raised, streak = [], None, 0
    for is_over, at in zip(over, run.times_s[count:], strict=True):
        streak = streak + 1 if is_over == (raised is None) else 0
        if streak >= RULE_RUN:
            if raised is None:
                raised = float(at)
            else:
                alarms.append(AlarmSpan(raised, float(at)))
                raised = None
            streak = 0
    if raised is not None:
        alarms.append(AlarmSpan(raised, None))
    return alarms


def run_report(run: Run, count: int, alarms: list[AlarmSpan]) -> dict[str, Any]:
    """One run's figures (see the module docstring)."""
    start, half, end = float(run.times_s[count]), run.end_s / 2.0, run.end_s
    first = [e for e in alarms if start <= e.raised_s < half]
    open_at_half = [e for e in first if e.cleared_s is None or e.cleared_s > half]
    second = [e for e in alarms if e.raised_s >= half]
    warned_at = min(
        [*(e.raised_s for e in second), *([half] if open_at_half else [])], default=None
    )
    alarmed = run.ends_in_failure and warned_at is not None
    open_s = sum(
        max(
            0.0, min(half, e.cleared_s if e.cleared_s is not None else end) - max(start, e.raised_s)
        )
        for e in first
    )
    return {
        "name": run.name,
        "learn_snapshots": count,
        "ends_in_failure": run.ends_in_failure,
        "false_alarms_first_half": len(first),
        "false_alarms": len(first) if run.ends_in_failure else len(alarms),
        "alarmed": alarmed,
        "lead_time_s": round(end - warned_at, 1) if alarmed and warned_at is not None else None,
        "alarm_open_first_half_s": round(open_s, 1),
        "first_half_s": round(max(0.0, half - start), 1),
        "alarms": len(alarms),
    }


def summary(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    """The figures over all runs."""
    first_half_s = sum(r["first_half_s"] for r in per_run)
    leads = [r["lead_time_s"] for r in per_run if r["lead_time_s"] is not None]
    failures = [r for r in per_run if r["ends_in_failure"]]
    first_half_false = sum(r["false_alarms_first_half"] for r in per_run)
    return {
        "runs": len(per_run),
        "per_run": per_run,
        "false_alarms_first_half_total": first_half_false,
        "false_alarms_total": sum(r["false_alarms"] for r in per_run),
        "alarm_open_first_half_fraction": (
            round(sum(r["alarm_open_first_half_s"] for r in per_run) / first_half_s, 5)
            if first_half_s > 0 else None
        ),
        "alarmed_runs": sum(r["alarmed"] for r in per_run),
        "runs_ending_in_failure": sum(r["ends_in_failure"] for r in per_run),
        "lead_time_s": {
            "p50": float(np.median(leads)) if leads else None,
            "min": min(leads) if leads else None,
        },
        "interval_95": {
            "failures_not_warned": rounded(proportion_interval(
                sum(not r["alarmed"] for r in failures), len(failures)), 4),
            "false_alarms_first_half_per_hour": rounded(
                rate_interval(first_half_false, first_half_s / 3600.0), 4),
        },
    }  # fmt: skip
