"""A learned device on the wire: calibrated scores keep their nines, each sense its threshold.

A calibrated score means "a healthy sample of this machine scores this high with probability
1 − score": 0.99999 is about a healthy day at one sample a second, 0.9999999999 a fault. Rounded
to 4 places both would read 1.0 and pass a threshold of 0.99998 that one of them is under.
"""

from __future__ import annotations

import jsonschema

from agent.config.decision import AlarmConfig, FusionConfig, LocationConfig
from agent.core.alarms import AlarmTracker, sequence_from
from agent.core.calibration import CalibratedFusion, CalibratedRule
from agent.core.fusion import Decision, fuse
from agent.core.learned_fusion import LearnedFusion
from agent.core.payload import alarm_payload, state_payload
from agent.core.samples import Modality, Score
from agent.inference.models import models_dir
from agent.learning.fusion_file import read_fusion_model
from agent.senses.registry import default_weights
from agent.senses.schema import alarm_schema

SENSES: list[Modality] = ["temperature", "audio"]
FUSION = FusionConfig(weights=default_weights(), stale_after_s=10)
# one false alarm a day from a frame a second and three sound windows a second: unequal
# rates, so each sense's threshold is its own
CALIBRATION = CalibratedFusion.for_target(1.0, {"temperature": 1.0, "audio": 3.0})
EVIDENCE: dict[Modality, dict[str, object]] = {
    "temperature": {"max_c": 40.0, "regions": []},
    "audio": {"probabilities": {"normal": 0.5}},
}


def decide(temperature: float, audio: float, rule: CalibratedRule | None = CALIBRATION) -> Decision:
    values = {"temperature": temperature, "audio": audio}
    scores = {m: Score("d1", m, v, "x", EVIDENCE[m], 100.0, 100.0) for m, v in values.items()}
    return fuse("d1", scores, FUSION, SENSES, 100.0, calibrated=rule)


def test_calibrated_scores_are_published_whole_with_each_senses_threshold() -> None:
    """The sound just under its threshold, the temperature far past it: the state shows the
    difference and that only the temperature is over its own threshold."""
    level = CALIBRATION.sense_threshold("audio")
    under = 1.0 - 2.0 * (1.0 - level)  # twice as likely as the threshold: not rare enough
    state = state_payload(decide(0.9999999999, under), "a1", {}, {})
    audio, temperature = state["modalities"]["audio"], state["modalities"]["temperature"]
    assert audio["threshold"] == level != temperature["threshold"]
    assert temperature["threshold"] == CALIBRATION.sense_threshold("temperature")
    assert audio["score"] == under < audio["threshold"] and round(under, 4) == 1.0
    assert temperature["score"] == 0.9999999999 > temperature["threshold"]
    assert state["score"] >= state["threshold"] > 0.99998


def test_an_alarm_of_a_learned_device_fits_the_schema_with_its_thresholds() -> None:
    tracker = AlarmTracker("d1", AlarmConfig(min_hold_s=0), sequence_from(1))
    transition = tracker.update(decide(0.9999999999, 0.5), 100.0)
    assert transition is not None
    payload = alarm_payload(transition, "plant", LocationConfig())
    jsonschema.validate(payload, alarm_schema())
    assert payload["threshold"] < payload["score"] < 1.0
    assert {m: v["threshold"] for m, v in payload["modalities"].items()} == {
        m: CALIBRATION.sense_threshold(m) for m in payload["modalities"]
    }
    assert len({v["threshold"] for v in payload["modalities"].values()}) > 1


def test_shipped_scores_stay_to_four_places_without_thresholds() -> None:
    state = state_payload(decide(0.123456, 0.654321, rule=None), None, {}, {})
    assert state["modalities"]["temperature"]["score"] == 0.1235
    assert state["modalities"]["audio"]["threshold"] is None
    assert state["score"] == round(state["score"], 4)


def test_an_alarm_of_the_learned_fusion_fits_the_schema() -> None:
    """The shipped learned fusion: the temperature far past its threshold alarms, and the
    alarm names its rule `learned`, with each sense's own threshold."""
    learned = LearnedFusion(read_fusion_model(models_dir() / "fusion-learned.json"), CALIBRATION)
    tracker = AlarmTracker("d1", AlarmConfig(min_hold_s=0), sequence_from(1))
    transition = tracker.update(decide(0.9999999999, 0.5, rule=learned), 100.0)
    assert transition is not None
    payload = alarm_payload(transition, "plant", LocationConfig())
    jsonschema.validate(payload, alarm_schema())
    assert payload["rule"] == "learned"
    assert payload["modalities"]["audio"]["threshold"] == CALIBRATION.sense_threshold("audio")
