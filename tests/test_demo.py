"""`edge-agent demo` in CI: the bundled streams, the shipped models, a real broker.

It runs as a user would start it, in a shortened form, while a subscriber checks the story
the demo tells: pump-01 develops a fault that its alarm evidence names on every sense,
motor-02 stays healthy, and valve-03's sensor anomaly alone stays below the threshold.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from agent.senses.schema import alarm_schema
from tests.support.mqtt import Collector, free_port, subscribe

pytestmark = pytest.mark.slow

FAULTS = {"ball", "inner_race", "outer_race"}


async def run_demo(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "demo", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode or 0, output.decode()


def names_every_sense(alarm: dict[str, Any]) -> bool:
    evidence = alarm["evidence"]
    probabilities = evidence.get("audio", {}).get("probabilities", {})
    return (
        bool(evidence.get("image", {}).get("detections"))
        and bool(evidence.get("temperature", {}).get("regions"))
        and bool(probabilities)
        and max(probabilities, key=probabilities.get) in FAULTS
    )


def sensor_scores(seen: Collector, device: str) -> list[float]:
    states = [s for s in seen.json("/state") if s["device"] == device]
    return [
        s["modalities"]["sensor"]["score"]
        for s in states
        if s["modalities"]["sensor"]["score"] is not None
    ]


async def test_demo_tells_its_story_on_the_real_broker(
    broker: tuple[str, int], topic_prefix: str, tmp_path: Path
) -> None:
    async with subscribe(*broker, f"{topic_prefix}/demo-plant/#") as seen:
        code, output = await run_demo(
            "--duration", "55", "--broker", f"{broker[0]}:{broker[1]}",
            "--prefix", topic_prefix, "--evidence-dir", str(tmp_path / "evidence"),
            "--json-log", str(tmp_path / "events.jsonl"),
        )  # fmt: skip
        await asyncio.sleep(0.5)
    assert code == 0, output[-3000:]
    alarms = seen.json("/alarm")
    for alarm in alarms:
        jsonschema.validate(alarm, alarm_schema())
    pump = [a for a in alarms if a["device"] == "pump-01"]
    assert pump, output[-3000:]
    assert any(names_every_sense(a) for a in pump), [a["evidence"] for a in pump]
    assert [a for a in alarms if a["device"] in ("motor-02", "valve-03")] == []
    valve_sensor = sensor_scores(seen, "valve-03")
    assert valve_sensor and max(valve_sensor) > 0.5  # the anomaly is seen...
    valve_fused = [s["score"] for s in seen.json("/state") if s["device"] == "valve-03"]
    assert max(valve_fused) < 0.3  # ...but alone it does not reach the alarm threshold
    assert "demo summary" in output
    assert re.search(r"pump-01: raised 1", output)
    assert (tmp_path / "evidence" / "pump-01").is_dir()
    assert (tmp_path / "events.jsonl").stat().st_size > 0


async def test_demo_starts_its_own_broker_when_none_answers() -> None:
    code, output = await run_demo("--duration", "7", "--broker", f"127.0.0.1:{free_port()}")
    assert code == 0, output[-3000:]
    assert "embedded broker" in output
    assert "mosquitto_sub -h 127.0.0.1" in output
    # the plain status lines come from the demo's own subscriber, through that broker
    assert re.search(r"^pump-01\s+\w+\s+fused", output, re.MULTILINE), output[-2000:]
    assert "samples scored:" in output
