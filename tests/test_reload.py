"""SIGHUP reloads the config: a broken file is refused, a valid one swaps devices, no alarm lost."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.config.device import AgentConfig
from agent.config.loader import parse_config
from agent.runtime.agent import Agent
from agent.runtime.reload import ReloadRefusedError, plan_reload, reload_on_request
from tests.support.agent_process import (
    agent_config,
    agent_process,
    log_records,
    thermal_device,
)
from tests.support.mqtt import Collector, subscribe
from tests.support.tasks import agent_running, eventually
from tests.support.tasks import running as running_jobs


def configs(tmp_path: Path, devices: list[dict[str, Any]], **changes: Any) -> Any:
    data = {**agent_config("edge", tmp_path / "state", devices), **changes}
    return parse_config(data, "test", base_dir=tmp_path)


def test_plan_sorts_devices_into_keep_replace_add_remove(tmp_path: Path) -> None:
    pump = thermal_device("pump", tmp_path, None)
    motor = thermal_device("motor", tmp_path, None)
    valve = thermal_device("valve", tmp_path, None)
    fan = thermal_device("fan", tmp_path, None)
    moved_motor = {**motor, "location": {**motor["location"], "position": "M9"}}
    plan = plan_reload(
        configs(tmp_path, [pump, motor, valve]), configs(tmp_path, [pump, moved_motor, fan])
    )
    assert (plan.keep, plan.replace, plan.add, plan.remove) == (
        ["pump"],
        ["motor"],
        ["fan"],
        ["valve"],
    )


def test_plan_refuses_a_broker_change(tmp_path: Path) -> None:
    pump = [thermal_device("pump", tmp_path, None)]
    other_broker = {"topic_prefix": "elsewhere", "host": "unused.invalid"}
    with pytest.raises(ReloadRefusedError, match="changing broker needs a restart"):
        plan_reload(configs(tmp_path, pump), configs(tmp_path, pump, broker=other_broker))


async def test_a_refused_reload_is_logged_and_keeps_the_running_config(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pump = [thermal_device("pump", tmp_path, None)]
    running = configs(tmp_path, pump)
    moved = configs(tmp_path, pump, broker={"topic_prefix": "elsewhere", "host": "x.invalid"})
    agent = Agent(running)
    requested = asyncio.Event()
    requested.set()
    with contextlib.closing(agent.outbox):
        async with running_jobs(reload_on_request(requested, lambda: moved, agent.reload)):
            await eventually(lambda: "reload rejected" in caplog.text, 10)
    assert agent.config is running
    assert [p.device for p in agent.pipelines] == ["pump"]
    assert "changing broker needs a restart" in caplog.text


def camera_off(device_id: str, tmp_path: Path) -> dict[str, Any]:
    """A thermal device whose frames are not there (yet): its inspection waits the full timeout."""
    device = thermal_device(device_id, tmp_path, None)
    infrared = {**device["sources"]["infrared"], "uri": str(tmp_path / "nothing" / "*.png")}
    return {**device, "sources": {"infrared": infrared}}


def inspecting(
    tmp_path: Path,
    broker: tuple[str, int],
    prefix: str,
    devices: list[dict[str, Any]],
    **inspection: Any,
) -> AgentConfig:
    """A config at the real broker with these inspection settings (a round every minute)."""
    return configs(
        tmp_path, devices, inspection={"interval_s": 60, **inspection},
        broker={"host": broker[0], "port": broker[1], "topic_prefix": prefix},
    )  # fmt: skip


def inspection_tasks() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_name() == "inspection" and not t.done()]


async def test_two_reloads_at_once_leave_one_pipeline_per_device(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    """SIGHUP and a fleet rollout may reload at the same moment: the second plans from what
    the first applied, so the device runs once, with the config applied last."""

    def placed(position: str) -> AgentConfig:
        device = thermal_device("pump", tmp_path, None)
        device["location"] = {**device["location"], "position": position}
        return configs(
            tmp_path, [device], broker={"host": broker[0], "port": broker[1],
                                        "topic_prefix": topic_prefix},
        )  # fmt: skip

    async with agent_running(placed("P0")) as agent:
        first = asyncio.create_task(agent.reload(placed("P1")))
        await asyncio.sleep(0)  # the second asks while the first builds its pipelines
        second = asyncio.create_task(agent.reload(placed("P2")))
        await asyncio.gather(first, second)
        await asyncio.sleep(0.2)
        running = [t for t in asyncio.all_tasks() if t.get_name() == "pump" and not t.done()]
        assert len(running) == 1
        assert [p.config.location.position for p in agent.pipelines] == ["P2"]
        assert agent.config.devices[0].location.position == "P2"


@pytest.mark.slow
async def test_a_reload_leaves_a_round_in_progress_running_on_the_new_pipelines(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    motor = thermal_device("motor", tmp_path, None)
    devices = [camera_off("pump", tmp_path), camera_off("valve", tmp_path), motor]
    config = inspecting(tmp_path, broker, topic_prefix, devices, device_timeout_s=2)
    async with agent_running(config) as agent:
        scheduler = agent.inspection
        await eventually(lambda: scheduler.current is not None, 10)
        first_round = scheduler.current
        assert first_round is not None and not first_round.records  # inspecting the pump

        pump_back = thermal_device("pump", tmp_path, None)  # its frames are there now
        plan = await agent.reload(inspecting(
            tmp_path, broker, topic_prefix, [pump_back, motor], device_timeout_s=2
        ))  # fmt: skip
        assert (plan.replace, plan.remove) == (["pump"], ["valve"])
        await eventually(lambda: first_round.finished_at is not None, 15)

        assert agent.inspection is scheduler
        assert scheduler.current is first_round  # the round went on, it did not start over
        assert len(inspection_tasks()) == 1
    # the pump's inspection was cut short by its reload: it is redone on the new pipeline;
    # the removed valve is dropped from the round
    assert [(r.device, r.result) for r in first_round.records] == [("pump", "ok"), ("motor", "ok")]
    assert first_round.devices_total == 2


@pytest.mark.slow
async def test_a_reload_that_changes_inspection_takes_effect_at_once(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    devices = [camera_off("pump", tmp_path)]
    config = inspecting(tmp_path, broker, topic_prefix, devices, device_timeout_s=30)
    async with agent_running(config) as agent:
        before = agent.inspection
        await eventually(lambda: before.current is not None, 10)

        quicker = inspecting(tmp_path, broker, topic_prefix, devices, device_timeout_s=0.2)
        assert (await agent.reload(quicker)).keep == ["pump"]
        assert agent.inspection is not before
        assert agent.inspection.config == quicker.inspection
        await eventually(lambda: agent.inspection.rounds_done == 1, 5)  # not after 30 s
        assert len(inspection_tasks()) == 1

        await agent.reload(inspecting(tmp_path, broker, topic_prefix, devices, enabled=False))
        assert inspection_tasks() == []


def alarm_events(seen: Collector) -> list[dict[str, Any]]:
    return seen.json("/alarm")


def states(seen: Collector, device: str, since: int = 0) -> list[dict[str, Any]]:
    """The device's state messages, from the `since`-th message received on."""
    decoded = [json.loads(p) for t, p, _ in seen.messages[since:] if t.endswith("/state") and p]
    return [s for s in decoded if s["device"] == device]


@pytest.mark.slow
@pytest.mark.timeout(600)  # generous: a busy machine starts Python and OpenCV slowly
async def test_sighup_refuses_a_broken_file_then_swaps_devices_without_losing_the_alarm(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    pump = thermal_device("pump-01", tmp_path, 120.0)  # hot: raises an alarm
    motor = thermal_device("motor-02", tmp_path, None)
    valve = thermal_device("valve-03", tmp_path, None)
    state_dir = tmp_path / "state"
    path, log = tmp_path / "agent.yaml", tmp_path / "agent.log"
    path.write_text(yaml.safe_dump(agent_config(topic_prefix, state_dir, [pump, motor])))

    async with (
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        agent_process(path, broker, log) as agent,
    ):
        await seen.wait_for(lambda c: any(a["event"] == "raised" for a in alarm_events(c)), 180)
        raised = alarm_events(seen)[0]

        broken = agent_config(topic_prefix, state_dir, [pump, motor])
        broken["devices"][1]["sources"]["infrared"]["fps"] = -1
        path.write_text(yaml.safe_dump(broken))
        agent.send_signal(signal.SIGHUP)
        await eventually(lambda: bool(log_records(log, "config reload rejected")), 60)
        rejected_at = len(seen.messages)
        await seen.wait_for(lambda c: bool(states(c, "motor-02", rejected_at)), 60)

        moved_pump = {**pump, "location": {**pump["location"], "position": "P9"}}
        path.write_text(yaml.safe_dump(agent_config(topic_prefix, state_dir, [moved_pump, valve])))
        agent.send_signal(signal.SIGHUP)
        await seen.wait_for(lambda c: any(s["state"] == "ok" for s in states(c, "valve-03")), 120)
        reloaded_at = len(seen.messages)
        await seen.wait_for(lambda c: len(states(c, "pump-01", reloaded_at)) >= 3, 60)
        agent.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(agent.wait(), 60) == 0

    report = log_records(log, "config reload rejected")[0]
    assert "devices[1].sources.infrared.fps" in report["msg"]
    assert report["problems"] == [
        "devices[1].sources.infrared.fps: Input should be greater than or equal to 0.001"
    ]
    reloaded = log_records(log, "config reloaded")
    assert [(r["kept"], r["replaced"], r["added"], r["removed"]) for r in reloaded] == [
        ([], ["pump-01"], ["valve-03"], ["motor-02"])
    ]
    events = alarm_events(seen)
    assert [e["event"] for e in events if e["event"] == "raised"] == ["raised"]
    assert {e["id"] for e in events} == {raised["id"]}  # the replaced pipeline kept its alarm
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(set(seqs))  # no event twice, in order
    after = states(seen, "pump-01", reloaded_at)
    assert {s["alarm_id"] for s in after} == {raised["id"]}
    assert all(s["alarm_id"] is None for s in states(seen, "valve-03"))
