"""SKAB replay through the simulated device, read by the agent's real Modbus source."""

from __future__ import annotations

import asyncio
from contextlib import aclosing

import numpy as np

from agent.apps.simulate.modbus_server import modbus_device_server
from agent.apps.simulate.skab_replay import Recording, recording_registers, replay
from agent.senses.sensor.config import ModbusConfig
from agent.senses.sensor.source import ModbusSource

ROWS = 12
FAST_ROWS_PER_S = 50.0
SLOW_POLL_HZ = 10.0  # five times slower than the replay


async def rows_seen(lockstep: bool) -> list[float]:
    """The `counter` values a slow poller reads while the replay runs once."""
    recording = Recording(["counter"], np.arange(ROWS, dtype=float).reshape(ROWS, 1), None)
    registers = recording_registers(recording.channels)
    async with modbus_device_server(registers, {"counter": 0.0}) as server:
        config = ModbusConfig(
            host=server.host, port=server.port, registers=registers, poll_hz=SLOW_POLL_HZ
        )
        source = ModbusSource("pump", config)
        playing = asyncio.create_task(
            replay(server, recording, FAST_ROWS_PER_S, loop=False, lockstep=lockstep)
        )
        seen: list[float] = []
        async with aclosing(source.stream()) as samples:
            async for sample in samples:
                assert isinstance(sample.data, dict)
                seen.append(sample.data["counter"])
                if playing.done() and seen[-1] == ROWS - 1:
                    break
        await playing
    return seen


async def test_lockstep_replay_serves_every_row_to_a_slow_poller() -> None:
    seen = await rows_seen(lockstep=True)
    assert sorted(set(seen)) == list(range(ROWS))
    assert seen == sorted(seen)


async def test_timed_replay_runs_ahead_of_a_slow_poller() -> None:
    seen = await rows_seen(lockstep=False)
    assert len(set(seen)) < ROWS  # rows went by between two polls
