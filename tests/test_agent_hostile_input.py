"""Hostile acks at a real Mosquitto: the agent refuses them and goes on publishing.

A deeply nested JSON ack used to raise RecursionError out of the message callback and end the
broker link: the process lived on, its retained status still said `online`, and nothing more
was published. Acks for alarms the agent never raised used to be stored without bound.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from agent.config.device import AgentConfig
from agent.config.loader import parse_config
from agent.observe import stages as observe
from agent.observe.metrics import AgentMetrics
from tests.support.mqtt import Collector, subscribe
from tests.support.tasks import agent_running, eventually
from tests.support.thermal_frames import frame_with_spot, infrared_source

pytestmark = pytest.mark.slow

HOT, COLD = frame_with_spot(28.0, 120.0), frame_with_spot(28.0, None)


def agent_config(tmp_path: Path, broker: tuple[str, int], prefix: str) -> AgentConfig:
    """One thermal camera that raises and clears an alarm every couple of seconds."""
    ir = infrared_source(tmp_path / "ir", [HOT] * 6 + [COLD] * 6, 6,
                         scorer={"warn_c": 60, "limit_c": 90})  # fmt: skip
    return parse_config(
        {
            "site": "plant",
            "broker": {"host": broker[0], "port": broker[1], "topic_prefix": prefix,
                       "ack_timeout_s": 2},
            "inspection": {"enabled": False},
            "storage": {"dir": str(tmp_path / "state"), "evidence": {"enabled": False}},
            "devices": [{
                "id": "pump-01", "sources": {"infrared": ir},
                "fusion": {"weights": {"temperature": 1.0}},
                "alarm": {"min_hold_s": 0, "update_interval_s": 3600},
            }],
        }
    )  # fmt: skip


def counted(metrics: AgentMetrics, reason: str) -> float:
    value = metrics.registry.get_sample_value(
        "edge_agent_rejected_messages_total", {"topic_kind": "ack", "reason": reason}
    )
    return value or 0.0


def events(seen: Collector, event: str) -> list[dict[str, Any]]:
    return [a for a in seen.json("/alarm") if a["event"] == event]


@pytest.mark.timeout(120)
async def test_hostile_acks_are_refused_and_the_agent_keeps_publishing(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    config = agent_config(tmp_path, broker, topic_prefix)
    ack_topic = f"{topic_prefix}/plant/pump-01/ack"
    metrics = AgentMetrics()
    with observe.subscribed(metrics):
        async with (
            subscribe(*broker, f"{topic_prefix}/plant/#") as seen,
            agent_running(config) as agent,
            aiomqtt.Client(*broker) as operator,
        ):
            await seen.wait_for(lambda s: bool(events(s, "raised")), 30)
            hostile = [
                b"[" * 60_000,  # nesting (under the size limit): RecursionError in json.loads
                b'{"id": "' + b"x" * 70_000 + b'"}',  # over broker.max_message_bytes
                b"\xff\xfe not utf-8",
                b'{"id": {"nested": true}}',
                b'{"by": "ana"}',
                json.dumps({"id": "never-raised", "by": "mallory"}).encode(),
            ]
            for payload in hostile:
                await operator.publish(ack_topic, payload, qos=1)
            await eventually(lambda: counted(metrics, "unknown_alarm") == 1, 10)
            assert counted(metrics, "too_deep") == 1
            assert counted(metrics, "too_large") == 1
            assert counted(metrics, "not_json") == 1
            assert counted(metrics, "invalid") == 2
            assert agent.acknowledged == {}  # the unknown alarm was refused, not stored

            # the link is alive: states and alarm events keep coming, and acks still work
            states_before = len(seen.json("/state"))
            raised_before = len(events(seen, "raised"))
            await seen.wait_for(
                lambda s: (
                    len(events(s, "raised")) > raised_before
                    and len(s.json("/state")) > states_before + 2
                ),
                30,
            )
            alarm_id = events(seen, "raised")[-1]["id"]
            # on another device's topic (an operator the ACL allows only there): refused
            elsewhere = f"{topic_prefix}/plant/valve-09/ack"
            await operator.publish(elsewhere, json.dumps({"id": alarm_id, "by": "eve"}), qos=1)
            await eventually(lambda: counted(metrics, "unknown_alarm") == 2, 10)
            assert alarm_id not in agent.acknowledged
            await operator.publish(ack_topic, json.dumps({"id": alarm_id, "by": "ana"}), qos=1)
            await eventually(lambda: alarm_id in agent.acknowledged, 10)
            assert agent.acknowledged[alarm_id]["by"] == "ana"
            assert agent.link.failure is None
            statuses = [p for t, p, _ in seen.messages if t.endswith("/status")]
            assert statuses[-1] == b"online"
