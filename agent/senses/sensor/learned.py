"""The sensor sense's learned scorer: this device's own Isolation Forest, calibrated.

`SensorLearner` (agent/senses/sensor/learn.py) leaves a `LearnedForest` (the JSON params of the
card) and an ONNX forest beside it. `LearnedSensorScorer` runs the same chain as the learner:
each window of the device's registers in units of its learning period (`standardise`),
cleaned and smoothed (`smooth`), its `window_features`, the forest through ONNX Runtime
(`decisions`, the shipped model's path), raw = minus the decision score (higher = more
anomalous), the median of the last `decision_median` raw scores; beside it the `distance`,
the largest shift of a register that is not `drifting` from its `Reference`, with its own
median. Score.value is 1 minus the two judges' Bonferroni exceedance: about the probability
that a healthy window of this machine scores lower. A register outside its configured
low/high gives 1.0 with HARD_LIMIT, as always.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import numpy as np
from pydantic import Field, ValidationError, model_validator

from agent.config.base import FiniteFloat, PositiveFloat, StrictModel
from agent.core.calibration import HealthyTail, HealthyTailJson
from agent.core.medians import RecentMedian
from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.inference.loading import load_session
from agent.inference.session import ModelError
from agent.senses.learning import EXCEEDANCE, RAW, Learned
from agent.senses.sensor.config import SENSE, ModbusConfig
from agent.senses.sensor.limits import breaches, readings, sample_values
from agent.senses.sensor.preprocess import FEATURE_STATS, smooth, standardise, window_features
from agent.senses.sensor.scorer import decisions, require_decisions

MAX_REGISTERS = 1_000  # bounds what a card may ask the scorer to allocate
MAX_WINDOW = 100_000
MAX_FOLLOW = 100_000_000  # windows: over three years at 1 Hz
Stat = Annotated[str, Field(pattern="^(" + "|".join(FEATURE_STATS) + ")$")]


class WindowChain(StrictModel):
    """How a window of raw register values becomes the forest's input, as learnt."""

    registers: list[str] = Field(min_length=1, max_length=MAX_REGISTERS)
    window: int = Field(ge=4, le=MAX_WINDOW)
    stats: list[Stat] = Field(min_length=1, max_length=len(FEATURE_STATS))
    smoothing: int = Field(ge=1, le=MAX_WINDOW)
    outlier_sigma: PositiveFloat
    centre: list[FiniteFloat] = Field(max_length=MAX_REGISTERS)
    scale: list[PositiveFloat] = Field(max_length=MAX_REGISTERS)

    @model_validator(mode="after")
    def _one_value_per_register(self) -> WindowChain:
        if not len(self.registers) == len(self.centre) == len(self.scale):
            raise ValueError("registers, centre and scale must have one entry per register")
        return self

    def features(self, window: np.ndarray) -> np.ndarray:
        """The forest's input of one window of raw register values (samples, registers)."""
        z = standardise(window, np.asarray(self.centre), np.asarray(self.scale))
        return window_features(smooth(z, self.outlier_sigma, self.smoothing), self.stats)


class LearnedForest(WindowChain):
    """Everything the learned scorer needs but the ONNX file: Learned.params, validated
    (a card is read back from disk, so nothing in it is trusted)."""

    decision_median: int = Field(ge=1, le=MAX_WINDOW)
    # registers whose level wandered far more than it jitters while learning (a temperature
    # warming up): the distance does not judge them (`drifting`); cards before it: []
    drifting: list[str] = Field(default_factory=list, max_length=MAX_REGISTERS)
    # the distance's reference follows each register's healthy level with this time constant,
    # in windows (one per sample); cards before it: None, the learning period's centre for good
    follow_windows: int | None = Field(default=None, ge=1, le=MAX_FOLLOW)
    model_file: str = Field(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_.-]*\.onnx$")  # beside the card
    tail: HealthyTailJson  # of the forest's raw score
    distance_tail: HealthyTailJson  # of the window's largest register shift (`distance`)

    @model_validator(mode="after")
    def _drifting_are_registers(self) -> LearnedForest:
        unknown = sorted(set(self.drifting) - set(self.registers))
        if unknown:
            raise ValueError(f"drifting names registers it does not have: {unknown}")
        if set(self.drifting) >= set(self.registers):
            raise ValueError("drifting must leave at least one register to judge")
        return self

    def judged(self) -> np.ndarray:
        """Which registers (in `registers` order) the distance judges."""
        return np.array([name not in self.drifting for name in self.registers])

    def judges(self) -> Judges:
        """The two calibrations, read once (a scorer applies them to every window)."""
        return Judges(HealthyTail.from_json(self.tail), HealthyTail.from_json(self.distance_tail))


@dataclass(frozen=True, slots=True)
class Judges:
    """The forest's and the distance's healthy tails.

    An Isolation Forest's score stops growing outside what it learned, so a register far off
    its normal scores like the most unusual healthy window; the distance keeps growing.
    """

    forest: HealthyTail
    distance: HealthyTail

    def exceedance(self, forest_raw: float, distance_raw: float) -> float:
        """P(a healthy window is this unusual to either judge), Bonferroni over the two."""
        unusual = min(self.forest.exceedance(forest_raw), self.distance.exceedance(distance_raw))
        return min(1.0, JUDGES * unusual)


JUDGES = 2  # the forest and the distance
FOLLOW_ABOVE = 1e-3  # the reference follows only while the distance's exceedance is this high


class Reference:
    """Where the distance measures each register's shift from, in learning-period units.

    It starts at the learning period's centre (0). With `follow_windows`, it follows each
    register's level as an exponential average with that time constant, but only while the
    distance's last verdict was ordinary (exceedance at least FOLLOW_ABOVE; the forest's is
    left out, as it sees the same wander): minutes of learning cannot show how far a slow
    quantity (a fluid temperature) wanders over a day. A change faster than the time constant
    departs from the reference and, once unusual, freezes it until the change ends; a slower
    one is left to the forest and the registers' limits.
    """

    def __init__(self, registers: int, follow_windows: int | None) -> None:
        self.level = np.zeros(registers)
        self._rate = 0.0 if follow_windows is None else 1.0 / follow_windows

    def shifts(self, means: np.ndarray) -> np.ndarray:
        """Each register's window mean (standardised) less the reference."""
        return means - self.level

    def follow(self, shifts: np.ndarray, exceedance: float) -> None:
        """A step towards this window's means (`shifts` from the reference), when the
        distance's last verdict was ordinary."""
        if self._rate and exceedance >= FOLLOW_ABOVE:
            self.level += self._rate * shifts


def distance(features: np.ndarray, judged: np.ndarray) -> np.ndarray:
    """Each window's largest shift of a `judged` register, in learning-period spreads
    (features: windows × registers of smoothed, standardised window means; or single samples,
    standardised, which is how learning fits the distance's tail)."""
    return np.max(np.abs(np.atleast_2d(features)[:, judged]), axis=1)


def learned_forest(learned: Learned, config: ModbusConfig) -> LearnedForest:
    """The card's params, validated and checked against the device's config now."""
    try:
        forest = LearnedForest.model_validate(learned.params)
    except ValidationError as exc:
        raise ModelError(f"learned sensor params are not valid: {exc}") from None
    names = [r.name for r in config.registers]
    if names != forest.registers:
        raise ModelError(
            f"learned on registers {forest.registers}, but the config has {names}: "
            "learn this device again"
        )
    changed = [
        f"{key} {learnt} (config {configured})"
        for key, learnt, configured in (
            ("window", forest.window, config.window or forest.window),
            ("smoothing", forest.smoothing, config.smoothing),
            ("outlier_sigma", forest.outlier_sigma, config.outlier_sigma),
        )
        if learnt != configured
    ]
    if changed:
        raise ModelError(f"learned with {', '.join(changed)}: learn this device again")
    return forest


class LearnedSensorScorer:
    """Scores each Modbus sample with the forest this device learned, and its limits."""

    modality = SENSE

    def __init__(self, device: str, config: ModbusConfig, learned: Learned, folder: Path) -> None:
        self.device = device
        self._registers = list(config.registers)
        self._forest = learned_forest(learned, config)
        self._judges = self._forest.judges()
        self._judged = self._forest.judged()
        self._distances = RecentMedian(self._forest.decision_median)
        self._reference = Reference(len(self._registers), self._forest.follow_windows)
        self._distance_exceedance = 1.0  # of the distance's last verdict
        self._session = load_session(folder / self._forest.model_file)
        require_decisions(self._session)
        self.models = [self._session.version]
        self._window: deque[list[float]] = deque(maxlen=self._forest.window)
        self._raw = RecentMedian(self._forest.decision_median)

    def score(self, sample: Sample) -> Score | None:
        """A Score once the judges have `decision_median` windows (their medians are calibrated
        over that many), or sooner when a hard limit is broken."""
        latest = sample_values(self.device, self._registers, sample)
        self._window.append(latest)
        out_of_range = breaches(self._registers, latest)
        full = len(self._window) == self._window.maxlen
        window = np.array(self._window, dtype=np.float64) if full else None
        medians = None  # the two judges' medians and this window's shifts, once both are full
        if window is not None:
            features = self._forest.features(window)[None, :]
            raw = self._raw.add(-float(decisions(self._session, features)[0]))
            shifts = self._reference.shifts(features[0])
            shift = self._distances.add(float(distance(shifts, self._judged)[0]))
            self._reference.follow(shifts, self._distance_exceedance)
            if raw is not None and shift is not None:
                medians = (raw, shift, shifts)
        judged = medians is not None
        if not judged and not out_of_range:
            return None
        evidence: dict[str, Any] = {
            **readings(self._registers, latest),
            "out_of_range": out_of_range,
        }
        value, label = 0.0, ""
        if medians is not None:
            raw, shift, shifts = medians
            value = 1.0 - self._judges.exceedance(raw, shift)
            self._distance_exceedance = self._judges.distance.exceedance(shift)
            label = self._most_deviant(shifts)
            evidence[RAW] = raw
            evidence["distance"] = shift
        if out_of_range:
            value, label = 1.0, out_of_range[0]["name"]
            evidence[HARD_LIMIT] = [entry["name"] for entry in out_of_range]
        if judged:
            evidence[EXCEEDANCE] = 1.0 - value
        return Score(
            device=self.device,
            modality=SENSE,
            value=value,
            label=label,
            evidence=evidence,
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0],
        )

    def _most_deviant(self, shifts: np.ndarray) -> str:
        """The judged register whose smoothed window mean lies most learning-period spreads
        from its reference."""
        deviation = np.where(self._judged, np.abs(shifts), -np.inf)
        return self._registers[int(np.argmax(deviation))].name
