"""The temperature sense: an infrared camera calibrated to degrees Celsius."""

from typing import Any

from agent.core.samples import Score
from agent.senses.learning import LearningSpec
from agent.senses.spec import EvidenceSpec, SenseSpec
from agent.senses.temperature.config import SENSE, InfraredConfig
from agent.senses.temperature.evidence import thermal_png
from agent.senses.temperature.learn import TemperatureLearner, learned_scorer
from agent.senses.temperature.scorer import TemperatureScorer
from agent.senses.temperature.source import InfraredSource


def max_temperature(score: Score | None) -> dict[str, Any]:
    """The hottest valid pixel, in °C, for the temperature chart."""
    return {"max_temp_c": score.evidence.get("max_c") if score else None}


TEMPERATURE = SenseSpec(
    name=SENSE,
    title="thermal",
    source_key="infrared",
    config=InfraredConfig,
    source=InfraredSource,
    scorer=TemperatureScorer,
    # the file kind keeps the name subscribers know from its topics: evidence/<id>/<seq>/thermal
    evidence=EvidenceSpec("thermal", "image/png", ".png", thermal_png, snapshot=True),
    default_weight=0.3,
    colour="#ff8a65",
    readings=max_temperature,
    learning=LearningSpec(learner=TemperatureLearner, scorer=learned_scorer),
)
