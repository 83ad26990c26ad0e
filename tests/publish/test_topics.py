"""The topic layout: what the agent publishes, and the patterns a reader of all of it uses."""

from __future__ import annotations

from paho.mqtt.client import topic_matches_sub

from agent.publish.topics import ANY, Topics

PLANT = Topics("edge", "plant")
PUBLISHED = [
    PLANT.status,
    PLANT.inspection,
    PLANT.state("pump"),
    PLANT.health("pump"),
    PLANT.alarm("pump"),
    PLANT.ack("pump"),
    PLANT.snapshot("pump", "thermal"),
    PLANT.evidence("pump", "a1", "audio"),
]


def test_every_topic_of_every_site_is_matched_by_exactly_one_pattern() -> None:
    patterns = Topics("edge", ANY).every_topic()
    for topic in PUBLISHED:
        assert sum(topic_matches_sub(p, topic) for p in patterns) == 1, topic
    assert "edge/+/+/ack" in patterns
    assert not any(topic_matches_sub(p, "edge/plant/pump/unknown") for p in patterns)
    assert not any(topic_matches_sub(p, "edgex/plant/status") for p in patterns)


def test_an_ack_goes_where_the_agent_listens() -> None:
    assert PLANT.ack("pump") == "edge/plant/pump/ack"
    assert topic_matches_sub(PLANT.acks, PLANT.ack("pump"))
