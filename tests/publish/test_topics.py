"""The topic layout: what the agent publishes, the patterns a reader of all of it uses, and
what a topic says about site, device and kind."""

from __future__ import annotations

from paho.mqtt.client import topic_matches_sub

from agent.sinks.mqtt.topics import ANY, TopicInfo, Topics, parse_topic

PLANT = Topics("edge", "plant")
PUBLISHED = [
    PLANT.status,
    PLANT.inspection,
    PLANT.state("pump"),
    PLANT.health("pump"),
    PLANT.alarm("pump"),
    PLANT.ack("pump"),
    PLANT.snapshot("pump", "thermal"),
    PLANT.evidence("pump", "a1", 7, "audio"),
]


def test_every_topic_of_every_site_is_matched_by_exactly_one_pattern() -> None:
    patterns = Topics("edge", ANY).every_topic()
    for topic in PUBLISHED:
        assert sum(topic_matches_sub(p, topic) for p in patterns) == 1, topic
    assert "edge/+/+/ack" in patterns
    assert not any(topic_matches_sub(p, "edge/plant/pump/unknown") for p in patterns)
    assert not any(topic_matches_sub(p, "edgex/plant/status") for p in patterns)


def test_everything_of_a_site_is_one_pattern() -> None:
    assert all(topic_matches_sub(PLANT.everything, topic) for topic in PUBLISHED)
    assert not topic_matches_sub(PLANT.everything, Topics("edge", "other").status)


def test_an_ack_goes_where_the_agent_listens() -> None:
    assert PLANT.ack("pump") == "edge/plant/pump/ack"
    assert topic_matches_sub(PLANT.acks, PLANT.ack("pump"))


def test_every_published_topic_and_pattern_parses_back() -> None:
    assert [parse_topic("edge", topic) for topic in PUBLISHED] == [
        TopicInfo("plant", "status"),
        TopicInfo("plant", "inspection"),
        TopicInfo("plant", "state", "pump"),
        TopicInfo("plant", "health", "pump"),
        TopicInfo("plant", "alarm", "pump"),
        TopicInfo("plant", "ack", "pump"),
        TopicInfo("plant", "snapshot", "pump", part="thermal"),
        TopicInfo("plant", "evidence", "pump", alarm_id="a1", part="audio", seq=7),
    ]
    for pattern in Topics("edge", ANY).every_topic():
        assert parse_topic("edge", pattern) is not None, pattern


def test_a_prefix_with_slashes_and_foreign_topics() -> None:
    assert parse_topic("a/b", "a/b/plant/pump/alarm") == TopicInfo("plant", "alarm", "pump")
    assert parse_topic("edge", "edgex/plant/status") is None
    assert parse_topic("edge", "edge/plant/pump/unknown") is None
    assert parse_topic("edge", "edge/plant/pump/evidence/a1") is None
    assert parse_topic("edge", "edge/plant/pump/evidence/a1/image") is None  # no event seq
    assert parse_topic("edge", "edge/plant/pump/evidence/a1/x7/image") is None
