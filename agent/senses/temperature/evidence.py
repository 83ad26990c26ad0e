"""Evidence of the temperature sense: the radiometric frame in false colour."""

from __future__ import annotations

from collections.abc import Sequence

from agent.core.samples import Sample, Score
from agent.senses.source import array_of
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.thermal_image import false_colour_png


def thermal_png(samples: Sequence[Sample], score: Score, source: object) -> bytes:
    """The radiometric frame in false colour, hot regions marked, with a °C scale."""
    if not isinstance(source, InfraredConfig):
        raise TypeError("thermal evidence needs the infrared source's calibration")
    cal = source.calibration
    return false_colour_png(array_of(samples[-1]), cal.a, cal.b, score.evidence.get("regions", []))
