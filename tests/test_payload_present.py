"""Degraded operation on the wire: which senses were present, in alarm and state payloads."""

from __future__ import annotations

import jsonschema

from agent.config.decision import AlarmConfig, FusionConfig, LocationConfig
from agent.core.alarms import AlarmTracker, sequence_from
from agent.core.calibration import CalibratedFusion
from agent.core.fusion import Decision, fuse
from agent.core.payload import alarm_payload, state_payload
from agent.core.samples import Modality, Score
from agent.senses.registry import default_weights
from agent.senses.schema import alarm_schema

THREE: list[Modality] = ["image", "temperature", "audio"]
FUSION = FusionConfig(weights=default_weights(), critical={"image": 0.9}, stale_after_s=10)
ALARM = AlarmConfig(min_hold_s=10)
EVIDENCE: dict[Modality, dict[str, object]] = {
    "image": {"detections": []},
    "temperature": {"max_c": 40.0, "regions": []},
    "audio": {"probabilities": {"normal": 0.5}},
}


def score(sense: Modality, value: float, label: str, at: float) -> Score:
    return Score("d1", sense, value, label, EVIDENCE[sense], at, at)


def decide(at: float, image: float, others: float | None = None) -> Decision:
    """The camera at `image`; the other two senses at `others`, or silent since the start."""
    scores = {"image": score("image", image, "scratches", at)}
    if others is not None:
        scores |= {m: score(m, others, "x", at) for m in THREE[1:]}
    return fuse("d1", scores, FUSION, THREE, at)


def test_a_critical_alarm_on_one_sense_names_it_as_the_only_one_present() -> None:
    tracker = AlarmTracker("d1", ALARM, sequence_from(1))
    transition = tracker.update(decide(100.0, 0.95), 100.0)
    assert transition is not None
    payload = alarm_payload(transition, "plant", LocationConfig())
    jsonschema.validate(payload, alarm_schema())
    assert (payload["rule"], payload["present"]) == ("critical:image", ["image"])
    assert [m for m, v in payload["modalities"].items() if v["stale"]] == THREE[1:]


def test_the_state_shows_a_score_held_back_for_want_of_senses() -> None:
    payload = state_payload(decide(100.0, 0.5), None, {}, {})
    assert (payload["state"], payload["rule"], payload["present"]) == (
        "degraded",
        "degraded",
        ["image"],
    )
    assert payload["score"] >= payload["threshold"]
    full = state_payload(decide(100.0, 0.5, others=0.5), None, {}, {})
    assert full["present"] == THREE


def test_an_alarm_outlives_its_other_senses_but_one_sense_does_not_raise_it() -> None:
    tracker = AlarmTracker("d1", ALARM, sequence_from(1))
    raised = tracker.update(decide(0.0, 0.5, others=0.5), 0.0)
    assert raised is not None and raised.decision.rule == "weighted"
    # the others fall silent; the camera still sees the defect: no update, no clear
    assert tracker.update(decide(30.0, 0.5), 30.0) is None
    cleared = tracker.update(decide(40.0, 0.1), 40.0)
    assert cleared is not None and str(cleared.event) == "cleared"
    jsonschema.validate(alarm_payload(cleared, "plant", LocationConfig()), alarm_schema())
    assert tracker.update(decide(50.0, 0.5), 50.0) is None


def test_a_calibrated_alarm_on_one_sense_matches_the_schema() -> None:
    calibrated = CalibratedFusion.for_target(1.0, {m: 1.0 for m in THREE})
    exceedance = (1 - calibrated.threshold) / 1000  # past alone_factor (100)
    scores = {"audio": score("audio", 1 - exceedance, "outer_race", 100.0)}
    decision = fuse("d1", scores, FUSION, THREE, 100.0, calibrated=calibrated)
    transition = AlarmTracker("d1", ALARM, sequence_from(1)).update(decision, 100.0)
    assert transition is not None
    payload = alarm_payload(transition, "plant", LocationConfig())
    jsonschema.validate(payload, alarm_schema())
    assert (payload["rule"], payload["present"], payload["severity"]) == (
        "calibrated",
        ["audio"],
        "major",  # 10 times rarer than the threshold that applies alone
    )
