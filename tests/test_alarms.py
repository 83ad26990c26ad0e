"""Alarm lifecycle: raise, update, clear, hysteresis and minimum hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import jsonschema

from agent.config.decision import AlarmConfig, DegradedConfig, FusionConfig, LocationConfig
from agent.core.alarms import Alarm, AlarmEvent, AlarmTracker, ClearReason, sequence_from
from agent.core.deciding import Decider
from agent.core.fusion import Decision, Trigger, fuse
from agent.core.payload import alarm_payload, iso
from agent.core.samples import Score
from agent.senses.registry import default_weights
from agent.senses.schema import alarm_schema

CONFIG = AlarmConfig(hysteresis=0.05, min_hold_s=10, update_interval_s=5, update_delta=0.1)


def decision(value: float, at: float, label: str = "scratches", **fusion: object) -> Decision:
    s = Score("d1", "image", value, label, {}, captured_at=at, scored_at=at)
    fusion_config = FusionConfig.model_validate({"weights": default_weights(), **fusion})
    return fuse("d1", {"image": s}, fusion_config, ["image"], at)


def run(tracker: AlarmTracker, steps: Sequence[tuple[float, float]]) -> list[tuple[float, str]]:
    events = []
    for at, value in steps:
        transition = tracker.update(decision(value, at), at)
        if transition is not None:
            events.append((at, str(transition.event)))
    return events


def test_raise_then_clear_after_hold() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    events = run(tracker, [(0, 0.1), (1, 0.5), (2, 0.1), (5, 0.1), (11, 0.1)])
    assert events == [(1, "raised"), (11, "cleared")]


def test_flicker_inside_hysteresis_band_does_not_clear() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    steps = [(t, 0.4 if t % 2 == 0 else 0.27) for t in range(0, 40)]
    assert run(tracker, steps) == [(0, "raised")]


def test_flicker_across_threshold_raises_once_per_hold() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    steps = [(t, 0.6 if t % 2 == 0 else 0.0) for t in range(0, 25)]
    events = run(tracker, steps)
    # without hold this would be 25 events; with a 10 s hold it is raise/clear pairs
    assert [e for _, e in events] == ["raised", "cleared", "raised", "cleared", "raised"]
    assert [t for t, _ in events] == [0, 11, 12, 23, 24]


def test_an_on_delay_raises_only_what_alarms_that_long_without_a_break() -> None:
    tracker = AlarmTracker("d1", CONFIG.model_copy(update={"on_delay_s": 5.0}), sequence_from(1))
    blip = [(0, 0.1), (1, 0.6), (2, 0.6), (3, 0.1), (4, 0.6), (5, 0.6), (6, 0.6), (7, 0.6)]
    assert run(tracker, blip) == []  # 1-2 s, then 4-7 s: neither lasted 5 s
    assert run(tracker, [(9, 0.6), (10, 0.1)]) == [(9, "raised")]  # 4 to 9 s: 5 s unbroken
    assert tracker.active is not None and tracker.active.raised_at == 9


def test_a_critical_rule_raises_at_once_whatever_the_on_delay() -> None:
    tracker = AlarmTracker("d1", CONFIG.model_copy(update={"on_delay_s": 60.0}), sequence_from(1))
    first = tracker.update(decision(0.25, 0, critical={"image": 0.2}), 0)
    assert first is not None and first.event == AlarmEvent.RAISED


def test_updates_are_rate_limited_but_escalation_is_immediate() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    events = run(tracker, [(0, 0.35), (1, 0.5), (2, 0.55), (6, 0.55), (7, 0.65), (8, 0.9)])
    # 0.35 warning; 0.5 moved 0.15 but within 5 s; at 6 s it is published; 0.65 is major:
    # escalation goes out at once; 0.9 critical at once as well
    assert events == [(0, "raised"), (6, "updated"), (7, "updated"), (8, "updated")]
    assert tracker.active is not None
    assert tracker.active.severity == "critical"


def test_critical_rule_holds_alarm_open_even_at_low_fused_score() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    critical = {"image": 0.2}
    first = tracker.update(decision(0.25, 0, critical=critical), 0)
    assert first is not None
    assert first.event == AlarmEvent.RAISED
    assert first.alarm.severity == "critical"
    assert tracker.update(decision(0.21, 30, critical=critical), 30) is None
    cleared = tracker.update(decision(0.1, 31, critical=critical), 31)
    assert cleared is not None
    assert cleared.event == AlarmEvent.CLEARED


def test_sequence_is_shared_and_increasing_and_ids_unique() -> None:
    sequence = sequence_from(100)
    a, b = AlarmTracker("a", CONFIG, sequence), AlarmTracker("b", CONFIG, sequence)
    t1 = a.update(decision(0.9, 0), 0)
    t2 = b.update(decision(0.9, 0), 0)
    t3 = a.update(decision(0.0, 20), 20)
    assert t1 is not None
    assert t2 is not None
    assert t3 is not None
    assert [t1.seq, t2.seq, t3.seq] == [100, 101, 102]
    assert t1.alarm.id != t2.alarm.id
    assert t3.alarm.id == t1.alarm.id


def restored(at: float = 0.0) -> Alarm:
    """An alarm a previous run left open, raised at `at`."""
    return Alarm("a1", "d1", at, "scratches", "warning", 0.5, at, restored=True)


def test_a_restored_alarm_continues_with_an_update_at_the_first_alarming_decision() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1), active=restored())
    transition = tracker.update(decision(0.55, 1.0), 1.0)  # within update_interval and delta
    assert transition is not None and transition.event is AlarmEvent.UPDATED
    assert (transition.alarm.id, transition.alarm.raised_at, transition.reason) == ("a1", 0, None)
    assert run(tracker, [(2, 0.5), (3, 0.1), (20, 0.1)]) == [(20, "cleared")]  # as usual now


def test_a_restored_alarm_below_the_clear_level_is_cleared_for_restart_within_its_hold() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1), active=restored(at=100.0))
    assert tracker.update(decision(0.27, 101), 101) is None  # in the hysteresis band: waits
    transition = tracker.update(decision(0.1, 102), 102)  # min_hold_s not over
    assert transition is not None and transition.event is AlarmEvent.CLEARED
    assert (transition.alarm.id, transition.reason) == ("a1", ClearReason.RESTART)
    assert tracker.active is None


def test_close_clears_the_open_alarm_with_its_reason_once() -> None:
    tracker = AlarmTracker("d1", CONFIG, sequence_from(1))
    run(tracker, [(0, 0.5)])
    transition = tracker.close(decision(0.5, 1), 1, ClearReason.DEVICE_REMOVED)
    assert transition is not None and transition.event is AlarmEvent.CLEARED
    assert transition.reason is ClearReason.DEVICE_REMOVED
    assert tracker.close(decision(0.5, 2), 2, ClearReason.DEVICE_REMOVED) is None


def test_the_raised_event_carries_the_capture_time_of_the_sample_that_tipped_it() -> None:
    fusion = FusionConfig(weights=default_weights(), degraded=DegradedConfig(min_senses=1))
    decider = Decider("d1", ["image", "temperature"], fusion, CONFIG, sequence_from(1), 0.0)
    image: dict[str, Any] = {"detections": []}
    decider.scores["image"] = Score("d1", "image", 0.1, "scratches", image, 10.0, 10.1)
    assert decider.decide(10.1, {}, None, "image")[1] is None
    # a hot spot captured 0.8 s later, scored 0.4 s after that, tips the decision
    hot = {"max_c": 80.0, "regions": []}
    decider.scores["temperature"] = Score("d1", "temperature", 0.9, "hot_spot", hot, 10.8, 11.2)
    decision, transition = decider.decide(11.25, {}, None, "temperature")
    assert transition is not None and transition.event is AlarmEvent.RAISED
    assert decision.trigger == Trigger("temperature", 10.8)
    assert decision.captured_at == 10.0  # the oldest sample behind it: not the alarm's latency
    payload = alarm_payload(transition, "plant", LocationConfig())
    jsonschema.validate(payload, alarm_schema())
    assert payload["trigger"] == {"modality": "temperature", "captured_at": iso(10.8)}
    assert payload["latency_ms"] == 450.0
