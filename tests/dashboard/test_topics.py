"""Topic parsing: what a message's topic says about site, device and kind."""

from __future__ import annotations

from agent.dashboard.topics import TopicInfo, ack_topic, parse_topic, subscriptions


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


def test_every_subscription_is_parseable_and_ack_goes_where_the_agent_listens() -> None:
    assert "edge/+/+/ack" in subscriptions("edge")
    assert ack_topic("edge", "plant", "pump") == "edge/plant/pump/ack"
    assert parse_topic("edge", ack_topic("edge", "plant", "pump")) == TopicInfo(
        "plant", "ack", "pump"
    )
