"""One RS-485 line, one master: Modbus RTU devices on one serial port share a client.

The line is a real pseudo-terminal pair made by socat; a pymodbus RTU server on one end
answers for two unit ids, the agent's devices poll from the other end.
"""

from __future__ import annotations

import asyncio
import itertools
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from agent.config.device import AgentConfig, DeviceConfig
from agent.core.alarms import sequence_from
from agent.core.samples import Sample
from agent.runtime.channels import build_channels
from agent.runtime.pipeline import DevicePipeline
from agent.senses.sensor import source as source_module
from agent.senses.sensor.bus import BUSES, RateMeter
from agent.senses.sensor.config import ModbusConfig, RegisterConfig
from agent.senses.sensor.source import ModbusSource
from agent.sinks.mqtt.topics import Topics
from tests.support.modbus_server import BusTrace, modbus_rtu_server, pty_pair
from tests.support.sinks import RetainedSink
from tests.support.tasks import eventually

# unit 1: two blocks per poll (the gap between them is wider than max_gap); unit 2: one block
UNIT1 = [
    RegisterConfig(name="pressure", address=0, data_type="float32"),
    RegisterConfig(name="flow", address=40, data_type="int16"),
]
UNIT2 = [RegisterConfig(name="current", address=10, data_type="uint32")]
VALUES1 = {"pressure": 3.25, "flow": -120.0}
VALUES2 = {"current": 70000.0}
READ_REQUEST_BYTES = 8  # unit, function, address, count, CRC: an RTU read request's frame


def rtu(serial_port: str, unit: int, registers: list[RegisterConfig], **kw: Any) -> ModbusConfig:
    settings: dict[str, Any] = {"poll_hz": 50.0, "timeout_s": 0.5, "retries": 0, "max_gap": 0}
    settings.update(kw)
    return ModbusConfig(
        transport="rtu", serial_port=serial_port, unit_id=unit, registers=registers, **settings
    )


async def collect(source: ModbusSource, count: int) -> list[Sample]:
    async with aclosing(source.stream()) as stream:
        return [sample async for sample in _take(stream, count)]


async def _take(stream: Any, count: int) -> Any:
    async for sample in stream:
        yield sample
        count -= 1
        if count == 0:
            return


def assert_one_request_at_a_time(trace: BusTrace, blocks: dict[int, int]) -> None:
    """Every request is answered before the next one comes, and a device's poll is whole."""
    directions = [direction for direction, _, _ in trace.pdus]
    assert directions == ["in", "out"] * (len(directions) // 2), directions[:20]
    pairs = list(zip(trace.pdus[::2], trace.pdus[1::2], strict=True))
    assert all(request[1] == reply[1] for request, reply in pairs)  # the asked unit answers
    units = [request[1] for request, _ in pairs]
    for unit, run in itertools.groupby(units):
        assert len(list(run)) % blocks[unit] == 0, units  # no poll cut by another device's
    # every byte the devices' end received belongs to a clean read request: nothing garbled
    assert len(trace.received) == READ_REQUEST_BYTES * len(pairs)


async def test_two_devices_on_one_serial_port_share_it_without_collisions() -> None:
    async with pty_pair() as (master, devices):
        units = {1: (UNIT1, VALUES1), 2: (UNIT2, VALUES2)}
        async with modbus_rtu_server(devices, units) as trace:
            press = ModbusSource("press-1", rtu(master, 1, UNIT1))
            drive = ModbusSource("drive-2", rtu(master, 2, UNIT2))
            collecting = asyncio.gather(collect(press, 25), collect(drive, 25))
            await eventually(lambda: BUSES.users(master) == 2, 5)
            pressed, driven = await asyncio.wait_for(collecting, 20)
            assert BUSES.users(master) == 0  # the last device to leave closed the port

    assert [s.data for s in pressed] == [VALUES1] * 25
    assert [s.data for s in driven] == [VALUES2] * 25
    assert_one_request_at_a_time(trace, {1: 2, 2: 1})
    assert len(trace.pdus) == 2 * (25 * 2 + 25)  # no request retried or lost


async def test_a_device_rejoins_a_bus_another_device_keeps_open() -> None:
    async with pty_pair() as (master, devices):
        units = {1: (UNIT1, VALUES1), 2: (UNIT2, VALUES2)}
        async with (
            modbus_rtu_server(devices, units) as trace,
            aclosing(ModbusSource("drive-2", rtu(master, 2, UNIT2)).stream()) as drive,
        ):
            assert (await anext(drive)).data == VALUES2
            for _ in range(2):  # the press leaves and comes back: the bus stays open
                press = await collect(ModbusSource("p", rtu(master, 1, UNIT1)), 3)
                assert [s.data for s in press] == [VALUES1] * 3
                assert BUSES.users(master) == 1
                assert (await anext(drive)).data == VALUES2
    assert_one_request_at_a_time(trace, {1: 2, 2: 1})


def test_rate_meter_reports_a_shortfall_and_its_end() -> None:
    now = [0.0]
    meter = RateMeter(10.0, clock=lambda: now[0])
    assert meter.window_s == 5.0

    def polls(rate_hz: float, seconds: float) -> float | None:
        result = None
        for _ in range(round(seconds * rate_hz)):
            now[0] += 1.0 / rate_hz
            result = meter.poll()
        return result

    assert polls(10.0, 6.0) is None  # keeps up
    assert polls(4.0, 0.5) is None  # a short dip is averaged over the window
    short = polls(4.0, 6.0)
    assert short == pytest.approx(4.0, rel=0.05)
    assert polls(4.2, 6.0) == short  # a small move does not change what health shows
    assert polls(2.0, 6.0) == pytest.approx(2.0, rel=0.05)
    assert polls(9.5, 6.0) is not None  # 95 %: not back yet (no flapping at 90 %)
    assert polls(10.0, 6.0) is None


def test_rate_meter_does_not_judge_the_first_window() -> None:
    now = [0.0]
    meter = RateMeter(2.0, clock=lambda: now[0])
    assert meter.window_s == 5.0
    for _ in range(5):
        now[0] += 1.0  # half the configured rate, but 5 s have not passed since the first
        assert meter.poll() is None
    now[0] += 1.0
    assert meter.poll() == pytest.approx(1.0)


class SlowBus(RateMeter):
    """A bus that never gets the device its rate: 3 Hz whatever it asked for."""

    def poll(self) -> float | None:
        return 3.0


async def test_a_rate_shortfall_shows_in_the_source_health(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(source_module, "RateMeter", SlowBus)
    async with pty_pair() as (master, devices), modbus_rtu_server(devices, {1: (UNIT1, VALUES1)}):
        config = DeviceConfig.model_validate({
            "id": "press-1",
            "sources": {"modbus": rtu(master, 1, UNIT1).model_dump()},
            "fusion": {"weights": {"sensor": 1.0}},
        })  # fmt: skip
        sink = RetainedSink()
        pipeline = DevicePipeline(
            config, build_channels(config), sink, Topics("p", "s"), sequence_from(1)
        )
        task = asyncio.create_task(pipeline.run())
        try:
            await eventually(lambda: pipeline.status().sources["sensor"].state != "starting", 5)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    health = pipeline.status().sources["sensor"]
    assert health.state == "degraded"
    assert health.reason == f"bus {master} (not shared) polls it at 3 Hz of 50 Hz configured"
    assert sink.payloads("/health")[-1]["state"] == "degraded"  # the device: still judged
    assert sink.payloads("/health")[-1]["sources"]["sensor"]["reason"] == health.reason


def agent_config(*modbus: dict[str, Any]) -> dict[str, Any]:
    return {
        "site": "plant-a",
        "devices": [
            {"id": f"dev-{i}", "sources": {"modbus": section}}
            for i, section in enumerate(modbus, start=1)
        ],
    }


def section(**kw: Any) -> dict[str, Any]:
    return {"registers": [{"name": "v", "address": 0}], **kw}


def test_devices_on_one_port_must_agree_on_baudrate_and_parity(tmp_path: Path) -> None:
    port = tmp_path / "ttyUSB0"
    port.touch()
    alias = tmp_path / "by-id"
    alias.symlink_to(port)
    first = section(transport="rtu", serial_port=str(port), baudrate=19200)
    second = section(transport="rtu", serial_port=str(alias), baudrate=9600, parity="E")
    with pytest.raises(ValueError, match="serial port") as caught:
        AgentConfig.model_validate(agent_config(first, second))
    message = str(caught.value)
    assert (
        f"devices dev-1 and dev-2 share serial port {alias} but differ in "
        "baudrate 19200 vs 9600, parity N vs E"
    ) in message


def test_devices_on_one_port_with_one_setting_and_tcp_devices_are_accepted(
    tmp_path: Path,
) -> None:
    port = str(tmp_path / "ttyUSB0")
    other = str(tmp_path / "ttyUSB1")
    config = AgentConfig.model_validate(
        agent_config(
            section(transport="rtu", serial_port=port, unit_id=1, poll_hz=1),
            section(transport="rtu", serial_port=port, unit_id=2, poll_hz=5),
            section(transport="rtu", serial_port=other, baudrate=9600),  # another line
            section(transport="tcp", port=502, baudrate=9600),  # tcp: serial settings unused
        )
    )
    assert len(config.devices) == 4
