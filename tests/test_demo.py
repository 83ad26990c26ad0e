"""`edge-agent demo` in CI: the bundled streams, the learned baselines, a real broker.

It runs as a user would start it, in a shortened form, while a subscriber checks the story
the demo tells through what each machine learned of its normal: pump-01's fault departs from
it and raises an alarm by the calibrated rule, then every sense names it; motor-02 and
valve-03 (whose valve cycles are part of what it learned) stay below the threshold.
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
DEFECTS = {"crazing", "inclusion", "patches", "pitted_surface", "rolled-in_scale", "scratches"}


async def run_demo(*args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "demo", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(process.communicate(), 180)
    return process.returncode or 0, output.decode()


def states(seen: Collector, device: str) -> list[dict[str, Any]]:
    return [s for s in seen.json("/state") if s["device"] == device]


def departed(state: dict[str, Any], modality: str) -> bool:
    """The sense's calibrated score is as rare as the device's threshold."""
    return (state["modalities"][modality]["score"] or 0.0) >= state["threshold"]


def names_every_sense(pump: list[dict[str, Any]]) -> bool:
    """While the alarm is open, each sense departs, named by what the fault is."""
    open_ = [s for s in pump if s["state"] == "alarm"]
    labels = {m: {s["modalities"][m]["label"] for s in open_ if departed(s, m)}
              for m in ("image", "temperature", "audio", "sensor")}  # fmt: skip
    return (
        bool(labels["image"] & DEFECTS)
        and "hot_spot" in labels["temperature"]
        and bool(labels["audio"] & FAULTS)
        and bool(labels["sensor"])
    )


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
    raised = [a for a in alarms if a["device"] == "pump-01" and a["event"] == "raised"]
    assert [a["rule"] for a in raised] == ["calibrated"], output[-3000:]
    assert names_every_sense(states(seen, "pump-01")), output[-3000:]
    assert [a for a in alarms if a["device"] in ("motor-02", "valve-03")] == []
    for device in ("pump-01", "motor-02", "valve-03"):
        assert {s["learned_version"] for s in states(seen, device)} == {1}
    for device in ("motor-02", "valve-03"):
        assert all(s["score"] < s["threshold"] for s in states(seen, device))
    assert "demo summary" in output
    timed = r"trigger -> published, raised alarms: p50 \d+ ms, p99 \d+ ms over 1\n"
    assert re.search(timed, output), output[-3000:]
    assert re.search(r"pump-01: raised 1 .*\[learned v1 \(calibrated\)\]", output)
    assert re.search(r"valve-03: no alarm \[learned v1 \(calibrated\)\]", output)
    assert (tmp_path / "evidence" / "pump-01").is_dir()
    assert (tmp_path / "events.jsonl").stat().st_size > 0


async def test_demo_starts_its_own_broker_when_none_answers() -> None:
    code, output = await run_demo("--duration", "7", "--broker", f"127.0.0.1:{free_port()}")
    assert code == 0, output[-3000:]
    assert "embedded broker" in output
    assert "mosquitto_sub -h 127.0.0.1" in output
    # the plain status lines come from the demo's own subscriber, through that broker
    assert re.search(r"^pump-01\s+\w+\s+learned v1 \(calibrated\) fused", output, re.MULTILINE), (
        output[-2000:]
    )
    assert "samples scored:" in output
