"""The retained state goes out when it changes, else once a second, also after the clock is
set back (an NTP step on an edge box must not freeze the dashboards)."""

from __future__ import annotations

from pathlib import Path

from agent.config.device import DeviceConfig
from agent.core.alarms import sequence_from
from agent.runtime.channels import build_channels
from agent.runtime.pipeline import DevicePipeline
from agent.sinks.mqtt.topics import Topics
from tests.support.sinks import RetainedSink
from tests.support.thermal_frames import frame_with_spot, infrared_source


def test_a_clock_set_back_does_not_hold_the_state_back(tmp_path: Path) -> None:
    config = DeviceConfig.model_validate(
        {"id": "pump-01", "sources": {"infrared": infrared_source(
            tmp_path / "ir", [frame_with_spot(30.0, None)], fps=1)}}
    )  # fmt: skip
    sink = RetainedSink()
    pipeline = DevicePipeline(
        config, build_channels(config), sink, Topics("edge", "site"), sequence_from(1)
    )
    pipeline.decide(now=1_000.0)
    pipeline.decide(now=1_000.5)  # unchanged, within a second: not again
    assert len(sink.payloads("/state")) == 1
    pipeline.decide(now=990.0)  # the clock set back ten seconds
    assert len(sink.payloads("/state")) == 2
    pipeline.decide(now=990.5)
    assert len(sink.payloads("/state")) == 2
    pipeline.decide(now=991.5)
    assert len(sink.payloads("/state")) == 3
