"""Learned fusion: a small additive model over each sense's calibrated evidence (docs/fusion.md).

A device that learned its normal gives every sense a calibrated score v_s and a threshold
t_s at which that sense alone would alarm (`CalibratedFusion.sense_threshold`). Its
**evidence** is how many decades rarer than that threshold the sample is, capped:

    d_s = min(log10((1 − t_s) / (1 − v_s)), cap_decades)

Each sense's **contribution** rises with its evidence in straight pieces that bend at the
shared `knots_decades`, never falling, so an ordinary sample brings only the sense's
`present` term and no sense argues against an alarm:

    c_s = present_s + Σ_k weight_sk · max(d_s − knot_k, 0)        (weight_sk ≥ 0)
          + ALONE_TERM  once d_s reaches the sense's `alone_decades` (when it has one)

The fused score is p = sigmoid(bias + Σ c_s) over the fresh senses, and the device alarms at
p ≥ `threshold`. A sense at its alone level thus alarms alone, whatever the others say and
whether or not they are there: that lift passes any threshold, the degraded one included (one
sense alone alarms only by its critical level or far into its tail, docs/fusion.md). Every
alarm carries each c_s. `tools/train_fusion.py` fits the terms, then picks the threshold and
the alone levels on development episodes; agent/learning/fusion_file.py reads the file.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Annotated, Final, Literal

from pydantic import Field, model_validator

from agent.config.base import FiniteFloat, StrictModel
from agent.core.calibration import CalibratedFusion

FORMAT: Final = "edge-agent-fusion/1"
TINY = 1e-300  # an exceedance this small is as rare as a float can say
MAX_LOGIT = 700.0  # exp() of more overflows a float
ALONE_TERM: Final = 100.0  # a sense at its alone level adds this: p rounds to 1

Decades = Annotated[float, Field(ge=0.0, le=300.0, allow_inf_nan=False)]
Knot = Annotated[float, Field(ge=-300.0, le=300.0, allow_inf_nan=False)]
Weight = Annotated[float, Field(ge=0.0, le=1e3, allow_inf_nan=False)]
Term = Annotated[float, Field(ge=-1e3, le=1e3, allow_inf_nan=False)]
OpenProbability = Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)]


MAX_KNOTS = 8


class SenseTerm(StrictModel):
    """One sense's part: a weight per knot of its evidence, and the term for its presence."""

    weights: list[Weight] = Field(min_length=1, max_length=MAX_KNOTS)
    present: Term = 0.0
    alone_decades: Decades | None = None  # evidence at which it alarms alone; None: never


class FusionModel(StrictModel):
    """The learned fusion file (JSON): its version, terms and threshold, and what it saw."""

    format: Literal["edge-agent-fusion/1"]
    version: Annotated[str, Field(pattern=r"^\d{1,4}\.\d{1,4}\.\d{1,4}$")]
    knots_decades: list[Knot] = Field(min_length=1, max_length=MAX_KNOTS)
    cap_decades: Decades
    bias: Term
    threshold: OpenProbability
    senses: dict[Annotated[str, Field(max_length=32)], SenseTerm] = Field(max_length=16)
    trained: dict[str, str | int | FiniteFloat] = Field(default_factory=dict, max_length=64)

    @model_validator(mode="after")
    def _one_weight_per_knot(self) -> FusionModel:
        if any(b <= a for a, b in itertools.pairwise(self.knots_decades)):
            raise ValueError("knots_decades must rise")
        for sense, term in self.senses.items():
            if len(term.weights) != len(self.knots_decades):
                raise ValueError(f"senses.{sense}.weights: one per knot in knots_decades")
            if term.alone_decades is not None and term.alone_decades > self.cap_decades:
                raise ValueError(f"senses.{sense}.alone_decades: at most cap_decades")
        return self


@dataclass(frozen=True, slots=True)
class LearnedFusion:
    """A device's calibration (its senses' thresholds) fused by a learned model."""

    model: FusionModel
    calibration: CalibratedFusion

    @property
    def rule(self) -> str:
        """The decision rule an alarm it raises names."""
        return "learned"

    @property
    def threshold(self) -> float:
        """The fused score at which the device alarms."""
        return self.model.threshold

    def sense_threshold(self, sense: str) -> float:
        """The sense's own threshold (its calibration's), from which its evidence counts."""
        return self.calibration.sense_threshold(sense)

    def evidence(self, sense: str, value: float) -> float:
        """Decades rarer than the sense's own threshold (negative: less rare), capped."""
        floor = 1.0 - self.calibration.sense_threshold(sense)
        decades = math.log10(max(floor, TINY) / max(1.0 - value, TINY))
        return min(decades, self.model.cap_decades)

    def contribution(self, sense: str, value: float) -> float:
        """The sense's term in the fused logit (0 for a sense the model does not know)."""
        term = self.model.senses.get(sense)
        if term is None:
            return 0.0
        decades = self.evidence(sense, value)
        bends = zip(term.weights, self.model.knots_decades, strict=True)
        alone = term.alone_decades is not None and decades >= term.alone_decades
        return (
            term.present
            + sum(w * max(decades - knot, 0.0) for w, knot in bends)
            + (ALONE_TERM if alone else 0.0)
        )

    def contributions(self, values: dict[str, float]) -> dict[str, float]:
        """Each fresh sense's term in the fused logit."""
        return {sense: self.contribution(sense, value) for sense, value in values.items()}

    def combine(self, contributions: dict[str, float]) -> tuple[float, str | None]:
        """The probability of the summed logit, and the sense whose term weighs most (None
        without senses)."""
        if not contributions:
            return 0.0, None
        logit = self.model.bias + sum(contributions.values())
        top = max(contributions, key=contributions.__getitem__)
        return 1.0 / (1.0 + math.exp(-min(max(logit, -MAX_LOGIT), MAX_LOGIT))), top

    def fused(self, values: dict[str, float]) -> tuple[float, str | None]:
        """The fused score and the sense whose evidence weighs most (None without senses)."""
        return self.combine(self.contributions(values))

    def degraded_threshold(self, alone_factor: float) -> float:
        """The threshold whose odds are `alone_factor` times the usual one's."""
        odds = alone_factor * self.threshold / (1.0 - self.threshold)
        return odds / (1.0 + odds)
