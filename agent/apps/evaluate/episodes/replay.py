"""One episode through the agent, on the episode's clock: scorers, learning, fusion, alarms.

Each sample goes where the running pipeline sends it: to its sense's learner while the device
learns (only hard limits score then), else to its scorer; every score is fused and passed to
the alarm lifecycle (`Decider`, the pipeline's own decide step) at the sample's time, and
the device re-decides once a second as the pipeline's tick does, which is also when learning
finishes: once `learn_s` has passed and every sense has what it needs. What is learned is
saved in a scratch store and used as the agent uses it: calibrated scorers and the calibrated
fusion for `learning.target_false_alarms_per_day`. A refused learning starts over, as it does
in the agent. Nothing here reads the wall clock.

Beside the device's own fusion, the same scores are decided for each sense alone (fusion
restricted to it: once learned, the device's calibrated fusion of that sense alone, which
alarms at the sense's own threshold in the card), for `per_sense_alone`.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from agent.apps.evaluate.alarm_spans import AlarmSpan, spans_of
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.episodes.timeline import Timeline
from agent.config.decision import FusionConfig
from agent.config.device import DeviceConfig
from agent.core.alarms import AlarmTransition, sequence_from
from agent.core.calibration import CalibratedFusion, CalibratedRule
from agent.core.deciding import Decider
from agent.core.fusion import Decision
from agent.core.samples import Modality, Sample
from agent.learning.device import DeviceLearning, finish_and_save
from agent.learning.scorers import (
    calibrated_fusion,
    device_rule,
    fusion_model,
    learned_scorers,
)
from agent.learning.store import LearnedStore
from agent.senses.learning import judged
from agent.senses.registry import SENSES
from agent.senses.scorer import Scorer

DEVICE = "device"  # the device's own fusion of every sense, beside each sense alone
WEIGHTED_MODE = "weighted_mode"  # under `fusion.mode: learned`, the device as `weighted` fuses
REASON = "episode commissioning"
TICK_S = 1.0  # the pipeline re-decides (staleness, alarm hold, learning done) this often
NO_FAILURES: dict[Modality, str] = {}  # an episode's sources and models never fail


@dataclass
class Watch:
    """One way of deciding the replay: the device's fusion, or one sense alone."""

    decider: Decider
    learned: bool  # once learned, the device's rule decides it (else the calibrated fusion)
    transitions: list[tuple[AlarmTransition, float]] = field(default_factory=list)  # at

    def alarms(self) -> list[AlarmSpan]:
        """Each alarm raised, from then until cleared (updates change nothing here), with the
        sense that drove the decision raising it."""
        return list(spans_of(self.transitions))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one episode's replay gave."""

    alarms: dict[str, list[AlarmSpan]]  # by watch: DEVICE, or a sense alone
    samples: dict[Modality, int]
    learned_at_s: float | None  # when learning finished (None: it did not, or none asked)
    timeline: Timeline | None = None  # the device's decisions, folded (when asked for)
    # each learned sense's calibrated judgements after learning: (time, calibrated score)
    calibrated: dict[Modality, list[tuple[float, float]]] = field(default_factory=dict)


# told of the device's decision at each tick and of its calibration (None: not learned)
TickWatcher = Callable[[float, Decision, CalibratedFusion | None], None]


class Replay:
    """One device's scorers, learning and decisions over one episode."""

    def __init__(
        self,
        config: DeviceConfig,
        scratch: Path,
        say: Callable[[str], None],
        on_tick: TickWatcher | None = None,
    ) -> None:
        self.config = config
        self.say = say
        self.on_tick = on_tick  # tools/train_fusion.py records what fusion saw
        sections = config.sources.configured()
        self.scorers: dict[Modality, Scorer] = {
            sense: SENSES[sense].scorer(config.id, section) for sense, section in sections.items()
        }
        self.learning = DeviceLearning(config, REASON, now=0.0) if config.learning.enabled else None
        self.store = LearnedStore(scratch)
        self.fusion_model = fusion_model(config.fusion)
        every = tuple(self.scorers)
        self.watches = {DEVICE: self._watch(every, config.fusion, learned=True)}
        if self.fusion_model is not None:
            self.watches[WEIGHTED_MODE] = self._watch(every, config.fusion, learned=False)
        for sense in self.scorers:
            self.watches[sense] = self._watch((sense,), alone(config.fusion, sense), False)
        self.samples = dict.fromkeys(self.scorers, 0)
        self.learned_at_s: float | None = None
        # once learned; restricted to one sense, it alarms at that sense's threshold in the card
        self.calibration: CalibratedFusion | None = None
        self.rule: CalibratedRule | None = None  # the device's: `calibration` or learned
        self.calibrated: dict[Modality, list[tuple[float, float]]] = {}  # by learned sense

    def _watch(self, senses: tuple[Modality, ...], fusion: FusionConfig, learned: bool) -> Watch:
        decider = Decider(self.config.id, senses, fusion, self.config.alarm, sequence_from(), 0.0)
        return Watch(decider, learned)

    def run(self, samples: Iterator[Sample], duration_s: float) -> Outcome:
        """Every sample and tick in time order (a tick after the samples of its instant)."""
        timed = ((s.captured_at, 0, s) for s in samples)
        ticks = ((k * TICK_S, 1, None) for k in range(1, math.floor(duration_s / TICK_S) + 1))
        for now, _, sample in heapq.merge(timed, ticks, key=lambda item: item[:2]):
            if sample is None:
                self.tick(now)
            else:
                self.take(sample)
        alarms = {key: watch.alarms() for key, watch in self.watches.items()}
        return Outcome(alarms, self.samples, self.learned_at_s, calibrated=self.calibrated)

    def take(self, sample: Sample) -> None:
        """Learn from or score the sample, then decide with its score, as the pipeline does."""
        sense, now = sample.modality, sample.captured_at
        learning = self.learning
        try:
            if learning is not None and sense in learning.learners:
                score = learning.observe(sense, sample)
            else:
                score = self.scorers[sense].score(sample)
        except Exception as exc:  # the agent would drop the sense: here the figures would lie
            source = sample.meta.get("uri") or sample.meta.get("source") or "sensor table"
            raise DatasetError(
                f"{source}: the {sense} sense failed at {now:g} s: {type(exc).__name__}: {exc}"
            ) from exc
        self.samples[sense] += 1
        if score is None:
            return
        if sense in self.calibrated and judged(score):
            self.calibrated[sense].append((now, score.value))
        for watch in self.watches.values():
            if sense in watch.decider.senses:
                watch.decider.scores[sense] = score
                self._decide(watch, now, sense)

    def tick(self, now: float) -> None:
        """The pipeline's once-a-second step: finish learning when ready, re-decide."""
        if self.learning is not None and self.learning.ready(now):
            self.finish_learning(self.learning, now)
        for key, watch in self.watches.items():
            decision = self._decide(watch, now)
            if key == DEVICE and self.on_tick is not None:
                self.on_tick(now, decision, self.calibration)

    def _decide(self, watch: Watch, now: float, trigger: Modality | None = None) -> Decision:
        rule = self.rule if watch.learned else self.calibration
        decision, transition = watch.decider.decide(now, NO_FAILURES, rule, trigger)
        if transition is not None:
            watch.transitions.append((transition, now))
        return decision

    def finish_learning(self, learning: DeviceLearning, now: float) -> None:
        """Learn, save and use it; refused, start over and say why (as the pipeline does)."""
        saved, reasons = finish_and_save(learning, self.store, now)
        if saved is None:
            self.say(f"learning refused at {now:g} s: {'; '.join(reasons)}")
            self.learning = learning.restarted(reasons, now)
            return
        scorers = learned_scorers(self.config, saved, self.store)
        self.scorers.update(scorers)
        self.calibrated = {sense: [] for sense in scorers}
        if scorers:
            self.calibration = calibrated_fusion(saved)
            self.rule = device_rule(self.calibration, self.fusion_model)
        for watch in self.watches.values():
            watch.decider.scores.clear()  # scored on the old scale
        self.learning = None
        self.learned_at_s = now
        self.say(f"learned at {now:g} s: device threshold {saved.threshold:.9f}")


def alone(fusion: FusionConfig, sense: Modality) -> FusionConfig:
    """The device's fusion restricted to one sense (its critical level kept)."""
    critical = {sense: fusion.critical[sense]} if sense in fusion.critical else {}
    return fusion.model_copy(update={"weights": {sense: 1.0}, "critical": critical})
