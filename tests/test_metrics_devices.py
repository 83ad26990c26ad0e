"""A device a reload removed leaves no state series behind in /metrics."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import generate_latest

from agent.config.device import BrokerConfig
from agent.observe.metrics import AgentMetrics
from agent.runtime.health import PartHealth
from agent.runtime.pipeline import PipelineStatus
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.outbox import Outbox
from agent.sinks.mqtt.publisher import Publisher


@dataclass
class Watched:
    """What the exporter reads of a pipeline: its device and status."""

    device: str

    def status(self) -> PipelineStatus:
        failed = {"sensor": PartHealth("failed", "unplugged", 0.0)}
        return PipelineStatus(self.device, None, None, failed, {}, {})


def test_a_removed_device_leaves_no_series_behind() -> None:
    metrics = AgentMetrics()
    publisher = Publisher(MqttLink(BrokerConfig(), None), Outbox(":memory:"))
    metrics.refresh([Watched("pump-01"), Watched("press-02")], publisher)  # type: ignore[list-item]
    served = generate_latest(metrics.registry).decode()
    assert 'device="press-02"' in served and 'device="pump-01"' in served
    metrics.refresh([Watched("pump-01")], publisher)  # type: ignore[list-item]
    served = generate_latest(metrics.registry).decode()
    assert 'device="press-02"' not in served  # its failed source would alert for ever
    failed = 'device="pump-01",edge_agent_source_state="failed",modality="sensor"} 1.0'
    assert failed in served  # the device still watched keeps its series
