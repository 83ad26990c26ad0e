"""The Scorer interface every modality implements."""

from __future__ import annotations

from typing import Protocol

from agent.core.samples import Modality, Sample, Score


class Scorer(Protocol):
    """Preprocess one Sample and score it; blocking CPU work, the pipeline runs it in a thread.

    Returns None while a scorer still gathers context (a sensor window not yet full).
    `models` lists the model versions that a Score depends on ('name@version').
    """

    modality: Modality
    models: list[str]

    def score(self, sample: Sample) -> Score | None: ...
