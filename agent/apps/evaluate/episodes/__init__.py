"""`edge-agent evaluate episodes`: recorded multimodal episodes replayed through the agent.

Each episode (format: docs/episodes.md, agent/apps/evaluate/episodes/format.py) runs through
the agent's own preprocessing, scorers, learning (when `learn_s` > 0), fusion and alarm
lifecycle, on the episode's own clock (replay.py). Without learning: the shipped scorers and
the config's weighted fusion (`--fusion FILE` sets it). The figures (keys of the JSON):

- a fault is `detected` when an alarm is raised or open between its start_s and end_s + grace
  (`--grace`, default 60 s); its time to detect is the first moment in that window with an
  alarm open, minus start_s (0 when one was already open); `time_to_detect_s` gives p50 and
  p90 over detected faults (linear between ranks), `miss_rate` the share not detected;
- a `false_alarm` is an alarm raised at or after learn_s outside every fault's start_s to
  end_s + grace (updates of an open alarm do not count); `false_alarms_by` counts them by the
  sense that drove the decision raising them (its critical one, else the one weighing most);
- healthy time is what is left of [learn_s, duration_s] outside those windows
  (`healthy_hours`); `alarm_open_healthy_fraction` is the share of it with an alarm open;
- `interval_95`: the exact 95 % intervals of `miss_rate` (Clopper–Pearson over the faults)
  and `false_alarms_per_hour` (Garwood over the healthy hours), [low, high]
  (agent/apps/evaluate/intervals.py): how far the counts pin the rates down;
- `per_episode`: per episode its faults, detected, false alarms (and by sense), time to
  detect per fault (null when missed) and when learning finished (`learned_at_s`, null
  without);
- `mode`: the fusion's `mode`; under `learned`, `weighted_mode` holds the same figures for
  the device fused as `weighted` would (the same replay);
- `per_sense_alone`: the same figures, each sense decided alone (the same replay with fusion
  restricted to it, at its own calibrated threshold once learned); an episode without that
  stream cannot alarm there;
- `calibration_check`: whether calibrated scores keep their promise on healthy time
  (agent/core/calibration_check.py): per learned sense over all episodes (`senses`) and per
  episode (`per_episode`, those that learned), the calibrated scores judged in healthy time
  and how many reached 2, 3 and 4 decades of rarity against how many a healthy machine would.

`--plots DIR` also draws each episode's replay (plot.py): one SVG per episode and an
`index.html` that lists those with a false alarm or a miss, then shows every picture.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from agent.apps.evaluate import SHIPPED_MODELS
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.episodes.device import (
    DecisionSettings,
    device_config,
    read_settings,
    sensor_channels,
)
from agent.apps.evaluate.episodes.format import Episode, read_episodes
from agent.apps.evaluate.episodes.media import episode_samples
from agent.apps.evaluate.episodes.plot import Plotted, write_plots
from agent.apps.evaluate.episodes.replay import (
    DEVICE,
    WEIGHTED_MODE,
    Outcome,
    Replay,
    TickWatcher,
)
from agent.apps.evaluate.episodes.scoring import EpisodeFigures, figures, healthy_check, summary
from agent.apps.evaluate.episodes.timeline import TimelineRecorder
from agent.apps.evaluate.workers import in_order
from agent.core.calibration import CalibratedFusion
from agent.core.calibration_check import CalibrationCheck
from agent.core.fusion import Decision
from agent.inference.models import models_dir
from agent.inference.session import ModelError
from agent.senses.audio.config import SENSE as AUDIO
from agent.senses.registry import SENSES
from agent.senses.sensor.config import SENSE as SENSOR

MAX_JOBS = 64  # worker processes for --jobs


def evaluate(
    data: Path,
    fusion: Path | None = None,
    grace_s: float = 60.0,
    progress: Callable[[str], None] | None = None,
    jobs: int = 1,
    plots: Path | None = None,
) -> dict[str, Any]:
    """Replay every episode under `data` and score its alarms against its faults; `jobs`
    episodes at a time, each in a process of its own when more than one (the figures are the
    same for every `jobs`); with `plots`, a picture of each replay there."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    if not (math.isfinite(grace_s) and grace_s >= 0):
        raise DatasetError(f"--grace {grace_s}: a number of seconds, 0 or more")
    if not 1 <= jobs <= MAX_JOBS:
        raise DatasetError(f"--jobs {jobs}: 1 to {MAX_JOBS} episodes at a time")
    settings = read_settings(fusion)
    episodes = read_episodes(data)
    senses = [s for s in SENSES if any(s in e.senses for e in episodes)]
    models = models_dir()
    for sense in senses:
        if sense in SHIPPED_MODELS and not (models / SHIPPED_MODELS[sense]).is_file():
            raise ModelError(f"{models / SHIPPED_MODELS[sense]}: no such model file")
    channels = sensor_channels(models) if SENSOR in senses else None
    device: list[EpisodeFigures] = []
    weighted: list[EpisodeFigures] = []
    alone: dict[str, list[EpisodeFigures]] = {sense: [] for sense in senses}
    learned = settings.fusion.mode == "learned"
    outcomes = replay_all(episodes, settings, models, channels, say, jobs, plots is not None)
    pace = Pace(episodes)
    plotted: list[Plotted] = []
    checked, each_checked = CalibrationCheck(), {}
    for k, (episode, outcome) in enumerate(zip(episodes, outcomes, strict=True), 1):
        if outcome.calibrated:
            healthy = healthy_check(episode.spec, outcome.calibrated, grace_s)
            checked.merge(healthy)
            each_checked[episode.name] = healthy.view()
        also = [(WEIGHTED_MODE, weighted)] if learned else []
        for key, figures_of in [(DEVICE, device), *also, *alone.items()]:
            alarms = outcome.alarms.get(key, [])
            figures_of.append(
                figures(episode.name, episode.spec, alarms, grace_s, outcome.learned_at_s)
            )
        done = device[-1]
        if outcome.timeline is not None:
            alarms = outcome.alarms.get(DEVICE, [])
            each = {sense: outcome.alarms.get(sense, []) for sense in alone}
            plotted.append(Plotted(episode.name, episode.spec, outcome.timeline, alarms, done,
                                   grace_s, each))  # fmt: skip
        say(f"[{k}/{len(episodes)}] {episode.name}: {done.detected} of {done.faults} faults "
            f"detected, {done.false_alarms} false alarms{pace.replayed(episode)}")  # fmt: skip
    result = summary(device)
    check = {"senses": checked.view(), "per_episode": each_checked}
    if plots is not None:
        written = write_plots(plots, plotted, {**result, "calibration_check": check})
        say(f"episodes drawn: {len(written) - 1}; open {written[-1]}")
    return {
        **result,
        "grace_s": grace_s,
        "mode": settings.fusion.mode,
        **({WEIGHTED_MODE: summary(weighted)} if learned else {}),
        "per_sense_alone": {sense: summary(rows) for sense, rows in alone.items()},
        "calibration_check": check,
    }


class Pace:
    """How long a run of episodes has left, at the pace so far: episode seconds replayed per
    second of wall time (episodes last 30 min to hours, so counting them would mislead)."""

    def __init__(self, episodes: list[Episode]) -> None:
        self.total_s = sum(e.spec.duration_s for e in episodes)
        self.replayed_s = 0.0
        self.started = time.perf_counter()

    def replayed(self, episode: Episode) -> str:
        """`episode` is done: "; about N min left", or "" after the last."""
        self.replayed_s += episode.spec.duration_s
        return time_left(time.perf_counter() - self.started, self.replayed_s, self.total_s)


def time_left(elapsed_s: float, replayed_s: float, total_s: float) -> str:
    """ "; about N min left" when `replayed_s` of `total_s` episode seconds took `elapsed_s`
    of wall time; "" at the end."""
    if replayed_s <= 0 or replayed_s >= total_s:
        return ""
    left = elapsed_s * (total_s - replayed_s) / replayed_s
    return f"; about {left / 60:.0f} min left" if left >= 90 else f"; about {left:.0f} s left"


def replay_all(
    episodes: list[Episode],
    settings: DecisionSettings,
    models: Path,
    channels: list[str] | None,
    say: Callable[[str], None],
    jobs: int,
    timelines: bool = False,
) -> Iterator[Outcome]:
    """Each episode's outcome, in the episodes' order; with `jobs` > 1 replayed in that many
    worker processes (spawned: no model session crosses a fork), their progress lines said
    as each episode is taken in order; the workers end when the caller stops. With
    `timelines`, each outcome carries the device's decisions folded for a picture."""
    if jobs == 1:
        yield from (
            replay(e, settings, models, channels, say, timeline=timelines) for e in episodes
        )
        return
    replay_one = functools.partial(
        replay_said, settings=settings, models=models, channels=channels, timeline=timelines
    )
    for outcome, lines in in_order(replay_one, episodes, jobs):
        for line in lines:
            say(line)
        yield outcome


def replay_said(
    episode: Episode,
    settings: DecisionSettings,
    models: Path,
    channels: list[str] | None,
    timeline: bool = False,
) -> tuple[Outcome, list[str]]:
    """`replay` in a worker process: its outcome and the lines it would have said."""
    lines: list[str] = []
    return replay(episode, settings, models, channels, lines.append, timeline=timeline), lines


def replay(
    episode: Episode,
    settings: DecisionSettings,
    models: Path,
    channels: list[str] | None,
    say: Callable[[str], None],
    on_tick: TickWatcher | None = None,
    timeline: bool = False,
) -> Outcome:
    """One episode through the agent; what it took is said on `say` (wall time only there).
    With `timeline`, the outcome carries the device's decisions folded for a picture."""
    config = device_config(episode, settings, models, channels)
    modbus = config.sources.configured().get(SENSOR)
    if modbus is not None and modbus.anomaly is None and not config.learning.enabled:
        say(f"{episode.name}: the shipped sensor model reads {channels}: not all are columns "
            "here, so its sensor stream only has limits (none) until it learns")  # fmt: skip
    microphone = config.sources.configured().get(AUDIO)
    window_s = microphone.window_s if microphone is not None else 1.0
    recorder = TimelineRecorder(episode.spec.duration_s, tuple(episode.senses))
    watchers = [w for w in (on_tick, recorder if timeline else None) if w is not None]

    def told(now: float, decision: Decision, calibrated: CalibratedFusion | None) -> None:
        for watcher in watchers:
            watcher(now, decision, calibrated)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="episode-") as scratch:
        run = Replay(config, Path(scratch), lambda line: say(f"{episode.name}: {line}"), told)
        outcome = run.run(episode_samples(episode, window_s), episode.spec.duration_s)
    if timeline:
        outcome = dataclasses.replace(outcome, timeline=recorder.timeline())
    took = time.perf_counter() - started
    counts = ", ".join(f"{sense} {n}" for sense, n in outcome.samples.items())
    speed = episode.spec.duration_s / max(took, 1e-9)
    say(f"{episode.name}: {episode.spec.duration_s:g} s replayed in {took:.1f} s "
        f"({speed:.0f}x real time; samples: {counts})")  # fmt: skip
    return outcome
