"""An alarm's life across agent restarts and reloads, at a real Mosquitto: an alarm left open
continues with its id or is cleared with a reason, never orphaned; each event's evidence files
arrive on topics of their own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest
import yaml

from agent.config.device import AgentConfig
from agent.config.loader import parse_config
from agent.senses.schema import alarm_schema
from tests.support.agent_process import agent_config as process_config
from tests.support.agent_process import agent_process
from tests.support.mqtt import Collector, subscribe
from tests.support.tasks import agent_running
from tests.support.thermal_frames import frame_with_spot, infrared_source

pytestmark = pytest.mark.slow

HOT, WARM, COLD = (frame_with_spot(28.0, c) for c in (120.0, 80.0, None))
ALARM = {"min_hold_s": 0, "update_interval_s": 3600}


def device(device_id: str, folder: Path, frames: list[np.ndarray], **alarm: Any) -> dict[str, Any]:
    """A device watched by a thermal camera replaying `frames` in a loop (4 per second)."""
    return {
        "id": device_id,
        "location": {"line": "L1", "zone": "bay", "position": device_id},
        "sources": {
            "infrared": infrared_source(
                folder / device_id, frames, scorer={"warn_c": 60, "limit_c": 90}
            )
        },
        "fusion": {"stale_after_s": 5},
        "alarm": {**ALARM, **alarm},
    }


def config(
    tmp_path: Path, broker: tuple[str, int], prefix: str, devices: list[dict[str, Any]]
) -> AgentConfig:
    return parse_config(
        {
            "site": "plant",
            "broker": {"host": broker[0], "port": broker[1], "topic_prefix": prefix},
            "inspection": {"enabled": False},
            "storage": {"dir": str(tmp_path / "state")},
            "devices": devices,
        }
    )


def alarms(seen: Collector, device_id: str | None = None) -> list[dict[str, Any]]:
    return [a for a in seen.json("/alarm") if device_id in (None, a["device"])]


def has(event: str, alarm_id: str | None = None) -> Any:
    return lambda c: any(a["event"] == event and alarm_id in (None, a["id"]) for a in alarms(c))


def once(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """De-duplicated by id, event and seq, as subscribers do."""
    seen: dict[tuple[str, str, int], dict[str, Any]] = {}
    for event in events:
        seen.setdefault((event["id"], event["event"], event["seq"]), event)
    return list(seen.values())


def valid(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    schema = alarm_schema()
    for event in events:
        jsonschema.validate(event, schema)
    return events


@pytest.mark.timeout(600)  # two agent processes: a busy machine starts Python slowly
async def test_an_alarm_open_at_a_kill_continues_after_the_restart_then_clears(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    state_dir, path = tmp_path / "state", tmp_path / "agent.yaml"
    hot = device("pump-01", tmp_path / "run1", [HOT])
    path.write_text(yaml.safe_dump(process_config(topic_prefix, state_dir, [hot])))
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        async with agent_process(path, broker, tmp_path / "run1.log") as agent:
            await seen.wait_for(has("raised"), 180)
            agent.kill()  # SIGKILL: nothing said at the end
            await agent.wait()
        raised = alarms(seen)[0]

        # hot for two seconds, then cold for a minute
        again = device("pump-01", tmp_path / "run2", [HOT] * 8 + [COLD] * 240)
        path.write_text(yaml.safe_dump(process_config(topic_prefix, state_dir, [again])))
        async with agent_process(path, broker, tmp_path / "run2.log"):
            await seen.wait_for(has("cleared"), 180)

    events = valid(once(alarms(seen)))  # the raised may come again: killed before its PUBACK
    assert [(e["event"], e["id"]) for e in events] == [
        ("raised", raised["id"]),
        ("updated", raised["id"]),
        ("cleared", raised["id"]),
    ]
    assert {e["raised_at"] for e in events} == {raised["raised_at"]}
    assert "reason" not in events[2]  # its condition ended, watched by this run
    assert [e["seq"] for e in events] == sorted({e["seq"] for e in events})


async def test_an_alarm_whose_condition_ended_while_stopped_is_cleared_for_restart(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        hot = device("pump-01", tmp_path / "run1", [HOT], min_hold_s=3600)
        async with agent_running(config(tmp_path, broker, topic_prefix, [hot])):
            await seen.wait_for(has("raised"), 60)
        (raised,) = alarms(seen)

        cold = device("pump-01", tmp_path / "run2", [COLD], min_hold_s=3600)
        async with agent_running(config(tmp_path, broker, topic_prefix, [cold])):
            await seen.wait_for(has("cleared"), 60)

    events = valid(alarms(seen))
    assert [(e["event"], e["id"]) for e in events] == [
        ("raised", raised["id"]),
        ("cleared", raised["id"]),
    ]
    assert events[1]["reason"] == "restart"


async def test_a_device_removed_between_runs_has_its_alarm_cleared_at_start(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    pump = device("pump-01", tmp_path, [HOT])
    motor = device("motor-02", tmp_path, [COLD])
    async with subscribe(*broker, f"{topic_prefix}/#") as seen:
        async with agent_running(config(tmp_path, broker, topic_prefix, [pump, motor])):
            await seen.wait_for(has("raised"), 60)
        (raised,) = alarms(seen)

        async with agent_running(config(tmp_path, broker, topic_prefix, [motor])):
            await seen.wait_for(has("cleared"), 30)

        async with agent_running(config(tmp_path, broker, topic_prefix, [motor])) as agent:
            await agent.publisher.drain(10)  # a third run has nothing left to clear

    events = valid(alarms(seen))
    assert [(e["event"], e["id"], e["device"]) for e in events] == [
        ("raised", raised["id"], "pump-01"),
        ("cleared", raised["id"], "pump-01"),
    ]
    cleared = events[1]
    assert cleared["reason"] == "device_removed"
    assert cleared["seq"] > raised["seq"] and "replayed" not in cleared
    assert (cleared["raised_at"], cleared["location"]) == (raised["raised_at"], raised["location"])


async def test_a_device_removed_by_a_reload_has_its_alarm_cleared(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    pump = device("pump-01", tmp_path, [HOT])
    motor = device("motor-02", tmp_path, [COLD])
    async with (
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        agent_running(config(tmp_path, broker, topic_prefix, [pump, motor])) as agent,
    ):
        await seen.wait_for(has("raised"), 60)
        (raised,) = alarms(seen)
        plan = await agent.reload(config(tmp_path, broker, topic_prefix, [motor]))
        assert plan.remove == ["pump-01"]
        await seen.wait_for(has("cleared"), 30)

    events = valid(alarms(seen))
    assert [(e["event"], e["id"]) for e in events] == [
        ("raised", raised["id"]),
        ("cleared", raised["id"]),
    ]
    assert events[1]["reason"] == "device_removed"


def files_arrived(seen: Collector, event: dict[str, Any]) -> bool:
    topics = {t for t, _, _ in seen.messages}
    return bool(event.get("evidence_files")) and all(
        f["topic"] in topics for f in event["evidence_files"]
    )


async def test_the_evidence_of_each_event_of_an_alarm_arrives_on_its_own_topic(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    # warm (score 0.67, major) then hot (1.0, critical): raised, then updated at once
    pump = device("pump-01", tmp_path, [WARM] * 4 + [HOT] * 400)
    async with (
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        agent_running(config(tmp_path, broker, topic_prefix, [pump])),
    ):
        await seen.wait_for(lambda c: sum(files_arrived(c, a) for a in alarms(c)) >= 2, 60)

    raised, updated = [a for a in valid(alarms(seen)) if a.get("evidence_files")][:2]
    assert (raised["event"], updated["event"]) == ("raised", "updated")
    assert raised["id"] == updated["id"]
    base = f"{topic_prefix}/plant/pump-01/evidence/{raised['id']}"
    for event in (raised, updated):
        (file,) = event["evidence_files"]
        assert file["topic"] == f"{base}/{event['seq']}/thermal"
        (payload,) = [p for t, p, _ in seen.messages if t == file["topic"]]  # this event's only
        assert len(payload) == file["size"]
    assert raised["evidence_files"][0]["topic"] != updated["evidence_files"][0]["topic"]
