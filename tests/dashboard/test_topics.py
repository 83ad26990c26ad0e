"""Topic parsing: what a message's topic says about site, device and kind."""

from __future__ import annotations

from agent.dashboard.topics import TopicInfo, parse_topic
from agent.publish.topics import ANY, Topics


def test_site_and_device_topics_are_recognised() -> None:
    assert parse_topic("edge", "edge/plant/status") == TopicInfo("plant", "status")
    assert parse_topic("edge", "edge/plant/inspection") == TopicInfo("plant", "inspection")
    assert parse_topic("edge", "edge/plant/pump/state") == TopicInfo("plant", "state", "pump")
    assert parse_topic("edge", "edge/plant/pump/snapshot/thermal") == TopicInfo(
        "plant", "snapshot", "pump", part="thermal"
    )
    assert parse_topic("edge", "edge/plant/pump/evidence/a1/audio") == TopicInfo(
        "plant", "evidence", "pump", alarm_id="a1", part="audio"
    )


def test_a_prefix_with_slashes_and_foreign_topics() -> None:
    assert parse_topic("a/b", "a/b/plant/pump/alarm") == TopicInfo("plant", "alarm", "pump")
    assert parse_topic("edge", "edgex/plant/status") is None
    assert parse_topic("edge", "edge/plant/pump/unknown") is None
    assert parse_topic("edge", "edge/plant/pump/evidence/a1") is None


def test_every_pattern_the_dashboard_subscribes_to_is_parseable() -> None:
    for pattern in Topics("edge", ANY).every_topic():
        assert parse_topic("edge", pattern) is not None, pattern
    assert parse_topic("edge", Topics("edge", "plant").ack("pump")) == TopicInfo(
        "plant", "ack", "pump"
    )
