"""Fit the learned fusion (docs/fusion.md) on the development episodes of tools/make_episodes.py.

    python -m tools.train_fusion --data ../episodes --include 'dev/*' --cache .cache/fusion

Step 1 replays each included episode through the agent (`edge-agent evaluate episodes`'s own
replay, learning where learn_s > 0) and records, once a second after the device learned, every
sense's calibrated score and threshold; each episode's record is cached, so an interrupted run
goes on where it stopped. Step 2 fits the model and picks its threshold on those records only.
Only the episodes `--include` names are read: the test split is never opened here.
`--compare FILE` judges the same records by another model file too (the shipped one, say), and
`--report FILE` keeps every figure, with each episode's, as JSON.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np
from scipy.optimize import minimize
from scipy.special import expit

from agent.apps.evaluate.alarm_spans import AlarmSpan, spans_of
from agent.apps.evaluate.episodes import MAX_JOBS, Pace, replay
from agent.apps.evaluate.episodes.device import read_settings, sensor_channels
from agent.apps.evaluate.episodes.format import Episode, episode_files, read_episode
from agent.apps.evaluate.episodes.scoring import EpisodeFigures, figures, summary
from agent.apps.evaluate.workers import in_order
from agent.config.decision import AlarmConfig, FusionConfig
from agent.core.alarms import sequence_from
from agent.core.calibration import CalibratedFusion, CalibratedRule
from agent.core.deciding import Decider
from agent.core.fusion import Decision
from agent.core.learned_fusion import FORMAT, TINY, FusionModel, LearnedFusion, SenseTerm
from agent.core.samples import Score
from agent.inference.models import models_dir
from agent.learning.fusion_file import read_fusion_model
from agent.senses.registry import SENSES, default_weights
from tools.make_manifest import write_manifest

SENSE_ORDER = tuple(SENSES)  # columns of a record
LOGIT_GRID = (0.0, 14.0, 0.5)  # thresholds tried, as logits: from, to, step
Say = Callable[[str], None]  # where a sweep's progress lines go


def to_stderr(line: str) -> None:
    """Progress goes to stderr: stdout is the model."""
    print(line, file=sys.stderr, flush=True)


def silent(line: str) -> None:
    """A sweep run for a cross-validation fold: its lines would drown the folds' own."""


def included(data: Path, pattern: str) -> list[Episode]:
    """The episodes under `data` whose folder (relative to it) matches `pattern`, by name."""
    root = data.resolve()
    chosen = episode_files(root, pattern)
    if not chosen:
        sys.exit(f"{data}: no episode matches {pattern!r}")
    return [read_episode(path, root) for path in chosen]


def record(episode: Episode, models: Path, channels: list[str] | None) -> dict[str, np.ndarray]:
    """Replay one episode; once a second after learning, each sense's calibrated score (NaN
    when it is not fresh) and the device's calibration (threshold, share per sense)."""
    times: list[float] = []
    values: list[list[float]] = []
    calibration: list[CalibratedFusion] = []

    def on_tick(now: float, decision: Decision, calibrated: CalibratedRule | None) -> None:
        if not isinstance(calibrated, CalibratedFusion):
            return
        times.append(now)
        values.append([decision.scores[s].value if s in decision.present else math.nan
                       for s in SENSE_ORDER])  # fmt: skip
        if not calibration or calibration[-1] != calibrated:
            calibration.append(calibrated)

    replay(episode, read_settings(None), models, channels, lambda line: None, on_tick)
    last = calibration[-1] if calibration else None
    return {
        "t_s": np.asarray(times, dtype=np.float64),
        "values": np.asarray(values, dtype=np.float64).reshape(-1, len(SENSE_ORDER)),
        "threshold": np.array(last.threshold if last else math.nan, dtype=np.float64),
        "shares": np.asarray(
            [last.shares.get(s, 1.0) if last else math.nan for s in SENSE_ORDER], dtype=np.float64
        ),
    }


def cached_records(
    episodes: list[Episode], cache: Path, jobs: int = 1
) -> dict[str, dict[str, np.ndarray]]:
    """Each episode's record, replayed (`jobs` at a time) where the cache lacks it; progress on
    stderr. An interrupted run goes on where it stopped."""
    cache.mkdir(parents=True, exist_ok=True)
    missing = [e for e in episodes if not cached(cache, e).is_file()]
    print(f"{len(episodes) - len(missing)} of {len(episodes)} episodes already recorded",
          file=sys.stderr, flush=True)  # fmt: skip
    pace = Pace(missing)
    for k, (episode, taken) in enumerate(zip(missing, recordings(missing, jobs), strict=True), 1):
        path = cached(cache, episode)
        np.savez(path.with_suffix(".part.npz"), **cast("dict[str, Any]", taken))
        path.with_suffix(".part.npz").replace(path)
        print(f"[{k}/{len(missing)}] {episode.name}: {len(taken['t_s'])} decisions "
              f"recorded{pace.replayed(episode)}", file=sys.stderr, flush=True)  # fmt: skip
    records: dict[str, dict[str, np.ndarray]] = {}
    for episode in episodes:
        with np.load(cached(cache, episode)) as saved:
            records[episode.name] = {key: saved[key] for key in saved.files}
    return records


def cached(cache: Path, episode: Episode) -> Path:
    """Where an episode's record is kept."""
    return cache / (episode.name.replace("/", "__") + ".npz")


def recordings(episodes: list[Episode], jobs: int) -> Iterator[dict[str, np.ndarray]]:
    """Each episode's record in order, `jobs` replayed at a time in worker processes."""
    models = models_dir()
    one = functools.partial(record, models=models, channels=sensor_channels(models))
    return in_order(one, episodes, jobs)


@dataclass(frozen=True, slots=True)
class Recorded:
    """One episode's record, ready to fit on: its calibration, values and labels."""

    episode: Episode
    calibration: CalibratedFusion
    t_s: np.ndarray  # [n]
    values: np.ndarray  # [n, senses], NaN where a sense is not fresh
    label: np.ndarray  # [n] 1 in a fault, 0 healthy, -1 just after a fault (grace: not fitted)


def recorded(episode: Episode, taken: dict[str, np.ndarray], grace_s: float) -> Recorded | None:
    """The record with its labels; None when the device never learned (nothing to fit)."""
    t = taken["t_s"]
    if t.size == 0:
        return None
    shares = {s: float(v) for s, v in zip(SENSE_ORDER, taken["shares"], strict=True)}
    calibration = CalibratedFusion(float(taken["threshold"]), shares)
    label = np.zeros(t.size, dtype=np.int8)
    for fault in episode.spec.faults:
        label[(t >= fault.end_s) & (t < fault.end_s + grace_s) & (label == 0)] = -1
    for fault in episode.spec.faults:
        label[(t >= fault.start_s) & (t < fault.end_s)] = 1
    return Recorded(episode, calibration, t, taken["values"], label)


def decades(rec: Recorded, cap: float) -> np.ndarray:
    """Each sense's evidence as LearnedFusion computes it, [n, senses]; NaN when not fresh."""
    floors = np.array([1.0 - rec.calibration.sense_threshold(s) for s in SENSE_ORDER])
    rest = np.maximum(1.0 - rec.values, TINY)
    return np.minimum(np.log10(np.maximum(floors, TINY) / rest), cap)


def design(rec: Recorded, knots: list[float], cap: float) -> np.ndarray:
    """Columns: per sense, one hinge max(d − knot, 0) per knot; then per sense its presence."""
    d = decades(rec, cap)
    present = np.isfinite(d)
    d = np.where(present, d, -np.inf)
    hinges = [np.maximum(d[:, i] - knot, 0.0) for i in range(len(SENSE_ORDER)) for knot in knots]
    return np.column_stack([*hinges, present.astype(np.float64)])


def fit(records: list[Recorded], knots: list[float], cap: float, l2: float) -> FusionModel:
    """The model's terms from every recorded second (threshold still to choose)."""
    x = np.concatenate([design(r, knots, cap) for r in records])
    theta = logistic(x, np.concatenate([r.label for r in records]), l2, len(knots))
    hinge_columns = len(SENSE_ORDER) * len(knots)
    per_knot = theta[1 : 1 + hinge_columns].reshape(len(SENSE_ORDER), len(knots))
    senses = {
        sense: SenseTerm(
            weights=[round(float(w), 6) for w in per_knot[i]],
            present=round(float(theta[1 + hinge_columns + i]), 6),
        )
        for i, sense in enumerate(SENSE_ORDER)
    }
    return FusionModel(
        format=FORMAT,
        version="0.0.0",
        knots_decades=knots,
        cap_decades=cap,
        bias=round(float(theta[0]), 6),
        threshold=0.5,
        senses=senses,
    )


def logistic(x: np.ndarray, label: np.ndarray, l2: float, knots: int) -> np.ndarray:
    """[bias, hinge weights ≥ 0, presence terms] of a class-balanced logistic regression on
    the rows labelled 0 or 1 (−1: left out)."""
    keep = label >= 0
    x, y = x[keep], label[keep].astype(np.float64)
    weight = np.where(y > 0, 0.5 / max(y.sum(), 1.0), 0.5 / max((1 - y).sum(), 1.0))

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        p = expit(x @ theta[1:] + theta[0])
        value = -np.sum(weight * (y * np.log(p + 1e-12) + (1 - y) * np.log(1 - p + 1e-12)))
        residual = weight * (p - y)
        grad = np.concatenate([[residual.sum()], x.T @ residual + 2 * l2 * theta[1:]])
        return float(value + l2 * theta[1:] @ theta[1:]), grad

    hinges = len(SENSE_ORDER) * knots
    bounds = [(None, None), *[(0.0, None)] * hinges, *[(None, None)] * len(SENSE_ORDER)]
    start = np.zeros(1 + x.shape[1])
    return np.asarray(minimize(loss, start, jac=True, method="L-BFGS-B", bounds=bounds).x)


def fused_scores(rec: Recorded, rule: CalibratedRule) -> np.ndarray:
    """The rule's fused score at each recorded tick (the agent's own code)."""
    fresh = [
        {s: float(v) for s, v in zip(SENSE_ORDER, row, strict=True) if math.isfinite(v)}
        for row in rec.values
    ]
    return np.array([rule.combine(rule.contributions(values))[0] for values in fresh])


def replayed_alarms(
    rec: Recorded, rule: CalibratedRule, scores: np.ndarray, alarm: AlarmConfig
) -> list[AlarmSpan]:
    """The alarms the agent's decide step raises over the record, deciding once a second.

    A tick whose fused score is below threshold − hysteresis while no alarm is open changes
    nothing in the lifecycle, so it is not decided (the sweep over thresholds stays fast)."""
    senses = tuple(SENSE_ORDER)
    device = rec.episode.spec.device
    fusion = FusionConfig(weights=default_weights())
    decider = Decider(device, senses, fusion, alarm, sequence_from(), 0.0)
    quiet = rule.threshold - alarm.hysteresis
    transitions = []
    for now, row, score in zip(rec.t_s, rec.values, scores, strict=True):
        if score < quiet and decider.tracker.active is None:
            continue
        decider.scores = {
            s: Score(device, s, float(v), s, {}, float(now), float(now))
            for s, v in zip(senses, row, strict=True)
            if math.isfinite(v)
        }
        _, transition = decider.decide(float(now), {}, rule)
        if transition is not None:
            transitions.append((transition, float(now)))
    return list(spans_of(transitions))


def dev_rows(
    records: list[Recorded],
    rules: list[CalibratedRule],
    scores: list[np.ndarray],
    grace_s: float,
) -> list[EpisodeFigures]:
    """Each record's episode figures under its rule, from when its device learned."""
    rows = []
    for rec, rule, fused in zip(records, rules, scores, strict=True):
        alarms = replayed_alarms(rec, rule, fused, AlarmConfig())
        spec = rec.episode.spec.model_copy(update={"learn_s": float(rec.t_s[0])})
        rows.append(figures(rec.episode.name, spec, alarms, grace_s, float(rec.t_s[0])))
    return rows


@dataclass(frozen=True, slots=True)
class Limits:
    """What the development alarms may cost: false alarms per healthy hour and the share of
    healthy time with an alarm open, a fault's alarms counted up to `grace_s` after it."""

    grace_s: float
    max_per_hour: float
    max_open: float

    def met(self, got: dict[str, Any]) -> bool:
        """Whether these development figures stay within the limits."""
        return (got["false_alarms_per_hour"] or 0.0) <= self.max_per_hour and (
            got["alarm_open_healthy_fraction"] or 0.0
        ) <= self.max_open


def weighted_mode_figures(records: list[Recorded], grace_s: float) -> dict[str, Any]:
    """The same figures for the devices fused as `fusion.mode: weighted` fuses them."""
    rules: list[CalibratedRule] = [r.calibration for r in records]
    scores = [fused_scores(r, rule) for r, rule in zip(records, rules, strict=True)]
    return summary(dev_rows(records, rules, scores, grace_s))


def chosen_threshold(
    records: list[Recorded], model: FusionModel, limits: Limits, say: Say = to_stderr
) -> tuple[FusionModel, list[EpisodeFigures]]:
    """The lowest threshold (most faults caught) whose development false alarms per hour and
    open healthy time stay within the limits, with each record's figures under it; the sweep
    is printed as it goes."""
    scores = [fused_scores(r, LearnedFusion(model, r.calibration)) for r in records]
    best: tuple[FusionModel, list[EpisodeFigures]] | None = None
    for logit in np.arange(LOGIT_GRID[0], LOGIT_GRID[1] + 1e-9, LOGIT_GRID[2]):
        candidate = model.model_copy(update={"threshold": float(expit(logit))})
        rules: list[CalibratedRule] = [LearnedFusion(candidate, r.calibration) for r in records]
        rows = dev_rows(records, rules, scores, limits.grace_s)
        got = summary(rows)
        say(
            f"threshold {candidate.threshold:.6f} (logit {logit:4.1f}): {brief(got)}, "
            f"time to detect {got['time_to_detect_s']}"
        )
        if limits.met(got):
            return candidate, rows
        best = (candidate, rows)
    assert best is not None
    say("no threshold meets the limits on development episodes: the strictest is kept")
    return best


def chosen_alone(
    records: list[Recorded],
    model: FusionModel,
    rows: list[EpisodeFigures],
    limits: Limits,
    say: Say = to_stderr,
) -> tuple[FusionModel, list[EpisodeFigures]]:
    """Each sense in turn, its alone level: of the levels from the cap down to 0 decades (one
    decade apart), the one that catches the most development faults within the limits, the
    highest among equals; none when no level catches more than the model does without it.
    `rows` are the records' figures under `model`; those under the model chosen come back.

    Only a record where the sense reaches the level can change, so the others keep their
    figures (the sweep stays fast). The sweep is printed as it goes."""
    got = summary(rows)
    evidence = [decades(r, model.cap_decades) for r in records]  # alone levels leave it as is
    for column, sense in enumerate(SENSE_ORDER):
        reach = [float(np.nanmax(e[:, column], initial=-np.inf)) for e in evidence]
        best: tuple[FusionModel, list[EpisodeFigures], dict[str, Any]] | None = None
        for level in np.arange(model.cap_decades, -1e-9, -1.0):
            candidate = with_alone(model, sense, float(level))
            trial = [
                learned_row(r, candidate, limits.grace_s) if top >= level else row
                for r, row, top in zip(records, rows, reach, strict=True)
            ]
            figures_then = summary(trial)
            say(f"{sense} alone at {level:4.1f} decades: {brief(figures_then)}")
            caught = (best[2] if best else got)["detected"]
            if limits.met(figures_then) and (figures_then["detected"] > caught):
                best = (candidate, trial, figures_then)
        if best is not None:
            model, rows, got = best
    return model, rows


def learned_row(rec: Recorded, model: FusionModel, grace_s: float) -> EpisodeFigures:
    """One record's episode figures under the learned model."""
    rule = LearnedFusion(model, rec.calibration)
    return dev_rows([rec], [rule], [fused_scores(rec, rule)], grace_s)[0]


def with_alone(model: FusionModel, sense: str, level: float) -> FusionModel:
    """The model with `sense` alarming alone from `level` decades of evidence."""
    term = model.senses[sense].model_copy(update={"alone_decades": level})
    return model.model_copy(update={"senses": {**model.senses, sense: term}})


def brief(got: dict[str, Any]) -> str:
    """Detections, false alarms and open healthy time of a summary, on one line."""
    return (
        f"detected {got['detected']}/{got['faults']}, "
        f"{got['false_alarms_per_hour']} false alarms/h, "
        f"open {got['alarm_open_healthy_fraction']}"
    )


@dataclass(frozen=True, slots=True)
class Procedure:
    """How a model is made from records: its fit, then its threshold and alone levels chosen
    within the limits on those same records."""

    knots: tuple[float, ...]
    cap: float
    l2: float
    limits: Limits

    def made(
        self, records: list[Recorded], say: Say = to_stderr
    ) -> tuple[FusionModel, list[EpisodeFigures]]:
        """The model, and each record's figures under it."""
        model = fit(records, list(self.knots), self.cap, self.l2)
        model, rows = chosen_threshold(records, model, self.limits, say)
        return chosen_alone(records, model, rows, self.limits, say)


def device_of(rec: Recorded) -> str:
    """The device a record's episode watched: the unit cross-validation holds out."""
    return rec.episode.spec.device


def held_out(procedure: Procedure, records: list[Recorded], device: str) -> list[EpisodeFigures]:
    """The figures of one device's records under a model made without any of them."""
    model, _ = procedure.made([r for r in records if device_of(r) != device], say=silent)
    return [
        learned_row(r, model, procedure.limits.grace_s) for r in records if device_of(r) == device
    ]


def out_of_fold(
    procedure: Procedure, records: list[Recorded], jobs: int = 1, say: Say = to_stderr
) -> list[EpisodeFigures]:
    """Every record's figures under a model made without its device's records (one fold per
    device, `jobs` folds at a time): what the procedure would do on a machine it never saw,
    which the figures it was chosen on overstate. The rows come back in the records' order."""
    devices = sorted({device_of(r) for r in records})
    if len(devices) < 2:
        raise ValueError("cross-validation needs the records of at least two devices")
    say(f"cross-validating: {len(devices)} folds, one per device, {jobs} at a time")
    rows: dict[str, EpisodeFigures] = {}
    one = functools.partial(held_out, procedure, records)
    for device, figures_of_device in zip(devices, in_order(one, devices, jobs), strict=True):
        say(f"{device} judged by a model made without it: {brief(summary(figures_of_device))}")
        rows.update((row.name, row) for row in figures_of_device)
    return [rows[r.episode.name] for r in records]


def trained(
    model: FusionModel,
    args: argparse.Namespace,
    records: list[Recorded],
    got: dict[str, Any],
    unseen: dict[str, Any] | None = None,
) -> FusionModel:
    """The model with its version, what it was fitted and chosen on, and (`unseen`) the
    figures of each device under a model made without it."""
    p50, p90 = got["time_to_detect_s"]["p50"], got["time_to_detect_s"]["p90"]
    facts: dict[str, str | int | float] = {
        "date": time.strftime("%Y-%m-%d"),
        "episodes": f"{args.include} of {args.data.name}: {len(records)} that learned",
        "faults": got["faults"],
        "healthy_hours": got["healthy_hours"],
        "dev_detected": got["detected"],
        "dev_false_alarms_per_hour": got["false_alarms_per_hour"],
        "dev_alarm_open_healthy_fraction": got["alarm_open_healthy_fraction"],
        "dev_time_to_detect_p50_s": -1.0 if p50 is None else p50,
        "dev_time_to_detect_p90_s": -1.0 if p90 is None else p90,
        "l2": args.l2,
    }
    if unseen is not None:
        facts |= {
            "unseen_device_detected": unseen["detected"],
            "unseen_device_false_alarms_per_hour": unseen["false_alarms_per_hour"],
            "unseen_device_alarm_open_healthy_fraction": unseen["alarm_open_healthy_fraction"],
        }
    return model.model_copy(update={"version": args.version, "trained": facts})


def models_to_compare(paths: list[Path]) -> dict[str, FusionModel]:
    """The `--compare` files, read before hours of recording rather than after."""
    try:
        return {str(path): read_fusion_model(path) for path in paths}
    except (OSError, ValueError) as exc:
        sys.exit(f"--compare: {exc}")


def compared_figures(
    name: str, model: FusionModel, records: list[Recorded], grace_s: float
) -> dict[str, Any]:
    """The records' figures under another model, said on one line as well."""
    got = summary([learned_row(r, model, grace_s) for r in records])
    print(f"the same episodes judged by {name} ({model.version}): {brief(got)}, "
          f"time to detect {got['time_to_detect_s']}", file=sys.stderr)  # fmt: skip
    return got


def contribution_table(model: FusionModel) -> str:
    """Each sense's contribution at a few evidence levels, and where it alarms alone
    (Markdown, for the card)."""
    levels = [-6.0, -4.0, -2.0, 0.0, 2.0, 4.0, model.cap_decades]
    calibration = CalibratedFusion(0.5, {})  # sense thresholds 0.5: value = 1 − 0.5·10^−d
    rule = LearnedFusion(model, calibration)
    lines = ["| sense | " + " | ".join(f"{d:g}" for d in levels) + " | alone from |",
             "|---|" + "---|" * (len(levels) + 1)]  # fmt: skip
    for sense, term in model.senses.items():
        cells = [f"{rule.contribution(sense, 1.0 - 0.5 * 10.0**-d):.2f}" for d in levels]
        alone = "never" if term.alone_decades is None else f"{term.alone_decades:g}"
        lines.append(f"| {sense} | " + " | ".join(cells) + f" | {alone} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="tools/make_episodes.py's DIR")
    parser.add_argument("--include", default="dev/*", help="episode folders to use (fnmatch)")
    parser.add_argument("--cache", type=Path, default=Path(".cache/fusion"))
    parser.add_argument("--jobs", type=int, default=1, help="episodes replayed at a time")
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--knots", default="-4,-3,-2,0,3", help="decades, comma-separated")
    parser.add_argument("--cap", type=float, default=12.0, help="evidence cap, decades")
    parser.add_argument("--l2", type=float, default=1e-5)
    parser.add_argument("--max-false-alarms-per-hour", type=float, default=0.025)
    parser.add_argument("--max-open", type=float, default=0.0025, help="healthy time share")
    parser.add_argument(
        "--cross-validate",
        action="store_true",
        help="also judge each device's episodes by a model made without them, and say so "
        "in the model's `trained` facts",
    )
    parser.add_argument(
        "--compare",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="also judge the records by this fusion model file (repeatable)",
    )
    parser.add_argument("--version", default="1.0.0")
    parser.add_argument("--out", type=Path, help="write the model here (and the MANIFEST)")
    parser.add_argument("--report", type=Path, help="write every figure, per episode, here")
    args = parser.parse_args(argv)
    if not 1 <= args.jobs <= MAX_JOBS:
        parser.error(f"--jobs {args.jobs}: 1 to {MAX_JOBS} episodes at a time")
    to_compare = models_to_compare(args.compare)
    episodes = included(args.data, args.include)
    taken = cached_records(episodes, args.cache, args.jobs)
    records = [r for e in episodes if (r := recorded(e, taken[e.name], args.grace)) is not None]
    procedure = Procedure(
        knots=tuple(float(k) for k in args.knots.split(",")),
        cap=args.cap,
        l2=args.l2,
        limits=Limits(args.grace, args.max_false_alarms_per_hour, args.max_open),
    )
    model, rows = procedure.made(records)
    got = summary(rows)
    missed = [row["name"] for row in got["per_episode"] if row["detected"] < row["faults"]]
    print(f"missed on development episodes: {', '.join(missed) or 'none'}", file=sys.stderr)
    unseen = None
    if args.cross_validate:
        try:
            unseen = summary(out_of_fold(procedure, records, args.jobs))
        except ValueError as exc:
            sys.exit(f"--cross-validate: {exc}")
        print(f"each device judged by a model made without it: {brief(unseen)}, "
              f"time to detect {unseen['time_to_detect_s']}", file=sys.stderr)  # fmt: skip
    model = trained(model, args, records, got, unseen)
    text = model.model_dump_json(indent=2) + "\n"
    print(text)
    weighted = weighted_mode_figures(records, args.grace)
    brief_weighted = {k: v for k, v in weighted.items() if k != "per_episode"}
    print(f"the same episodes fused as `weighted` (calibrated rule): {brief_weighted}",
          file=sys.stderr)  # fmt: skip
    compared = {
        name: compared_figures(name, other, records, args.grace)
        for name, other in to_compare.items()
    }
    print(contribution_table(model), file=sys.stderr)
    if args.out is not None:
        args.out.write_text(text)
        write_manifest(args.out.parent)
    if args.report is not None:
        report = {"development": got, "unseen_device": unseen, "weighted_mode": weighted}
        args.report.write_text(json.dumps(report | {"compared": compared}, indent=1) + "\n")


if __name__ == "__main__":
    main()
