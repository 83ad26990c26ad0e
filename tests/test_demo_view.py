"""The demo's view learns from the agent's topics, parsed as every other reader parses them."""

from __future__ import annotations

import io
import json
from pathlib import Path

from agent.apps.demo.summary import Deliveries, summary
from agent.apps.demo.view import DemoView
from agent.observe import stages as observe
from agent.sinks.mqtt.topics import Topics

PLANT = Topics("edge", "plant")
STATE = {"device": "pump", "state": "ok", "score": 0.1, "threshold": 0.5, "modalities": {}}


def test_messages_are_routed_by_the_kind_their_topic_names(tmp_path: Path) -> None:
    json_log = io.StringIO()
    view = DemoView("edge", tmp_path, json_log)
    view.on_message(PLANT.status, b"online")
    view.on_message(PLANT.state("pump"), json.dumps(STATE).encode())
    view.on_message(PLANT.inspection, json.dumps({"round": 1}).encode())
    view.on_message(PLANT.snapshot("pump", "image"), b"\xff\xd8\xff not json")
    view.on_message(PLANT.evidence("pump", "a1", 4, "audio"), b"RIFF....")
    view.on_message(PLANT.evidence("pump", "a1", 4, "audio"), b"")  # a cleared retained message

    assert view.states == {"pump": STATE}
    assert view.inspection == {"round": 1}
    assert view.evidence_files == {"audio": 1}
    kinds = [json.loads(line)["kind"] for line in json_log.getvalue().splitlines()]
    assert kinds == ["status", "state", "inspection"]


def test_topics_of_another_prefix_or_unknown_kinds_are_ignored(tmp_path: Path) -> None:
    view = DemoView("edge", tmp_path)
    alarm = {"device": "pump", "seq": 1, "event": "raised"}
    view.on_message(Topics("other", "plant").alarm("pump"), json.dumps(alarm).encode())
    view.on_message("edge/plant/pump/unknown", b"{}")

    assert (view.alarms, view.log, view.states) == ([], [], {})


def test_the_summary_times_raised_alarms_and_every_event_from_trigger_to_published(
    tmp_path: Path,
) -> None:
    deliveries = Deliveries()
    for event, seconds in (("raised", 0.2), ("updated", 0.4), ("cleared", 0.1)):
        deliveries.on_delivered(observe.Delivery("t", False, "pump", event, seconds))
    deliveries.on_delivered(observe.Delivery("t", True))  # a previous run's event: not timed
    text = summary(DemoView("edge", tmp_path), [], deliveries, 60.0, tmp_path)
    assert "trigger -> published, raised alarms: p50 200 ms, p99 200 ms over 1" in text
    assert "trigger -> published, every alarm event: p50 200 ms, p99 396 ms over 3" in text
    empty = summary(DemoView("edge", tmp_path), [], Deliveries(), 60.0, tmp_path)
    assert "trigger -> published, raised alarms: no samples" in empty


def test_a_learned_device_shows_decades_a_shipped_one_its_scores(tmp_path: Path) -> None:
    """0.99 is two decades, 0.9999999999 ten, the threshold 0.99999 five."""
    learned = {**STATE, "device": "pump-07", "score": 0.9999999999, "threshold": 0.99999,
               "learned_version": 1, "modalities": {
                   "audio": {"score": 0.99, "threshold": 0.99999, "label": "normal"}}}  # fmt: skip
    shipped = {**STATE, "modalities": {"audio": {"score": 0.42, "label": "normal"}}}
    view = DemoView("edge", tmp_path)
    view.on_message(PLANT.state("pump-07"), json.dumps(learned).encode())
    view.on_message(PLANT.state("pump"), json.dumps(shipped).encode())
    lines = dict(line.split(maxsplit=1) for line in view.plain_status())
    assert "fused 10.0/5.0 decades" in lines["pump-07"] and "audio=2.0/5.0" in lines["pump-07"]
    assert "fused 0.10/0.50" in lines["pump"] and "audio=0.42" in lines["pump"]
