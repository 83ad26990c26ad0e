"""ModbusSource against real servers on loopback: pymodbus's own, and broken raw ones."""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from contextlib import aclosing
from typing import Literal

import pytest

from agent.core.samples import Sample
from agent.senses.sensor.config import DataType, ModbusConfig, RegisterConfig
from agent.senses.sensor.source import ModbusSource
from agent.senses.source import SourceError
from tests.support.modbus_server import (
    HOST,
    fixed_count_server,
    garbage_tcp_server,
    modbus_tcp_server,
    refusing_port,
    silent_tcp_server,
)

TIMEOUT_S = 0.3
Order = Literal["big", "little"]
ORDERS: tuple[Order, ...] = ("big", "little")


def config(port: int, registers: list[RegisterConfig], **kwargs: object) -> ModbusConfig:
    settings: dict[str, object] = {"timeout_s": TIMEOUT_S, "retries": 0, "poll_hz": 50.0}
    settings.update(kwargs)
    return ModbusConfig.model_validate(
        {"host": HOST, "port": port, "registers": registers, **settings}
    )


async def first(source: ModbusSource) -> Sample:
    """The first sample, closing the stream (and its connection) afterwards."""
    async with aclosing(source.stream()) as stream:
        return await anext(stream)


async def first_error(source: ModbusSource) -> tuple[str, float]:
    """The SourceError message of a stream that must fail, and how long failing took."""
    start = time.monotonic()
    with pytest.raises(SourceError) as caught:
        await first(source)
    return str(caught.value), time.monotonic() - start


def every_layout() -> tuple[list[RegisterConfig], dict[str, float]]:
    """Each word type in each byte/word order, plus coils and discrete inputs, packed closely."""
    registers, values = [], {}
    address = 0
    samples: dict[DataType, float] = {
        "int16": -1234,
        "uint16": 30000,
        "int32": -7654321,
        "uint32": 2e9,
        "float32": 3.25,
    }
    for (data_type, value), byte_order, word_order in itertools.product(
        samples.items(), ORDERS, ORDERS
    ):
        name = f"{data_type}_{byte_order}_{word_order}"
        registers.append(
            RegisterConfig(
                name=name,
                address=address,
                kind="input" if data_type == "int16" else "holding",
                data_type=data_type,
                byte_order=byte_order,
                word_order=word_order,
                scale=0.5,
                offset=10.0,
                unit="u",
            )
        )
        values[name] = value
        address += 3  # a one-word gap after 32-bit values: the planner must read across it
    bits: list[tuple[Literal["coil", "discrete"], int, float]] = [
        ("coil", 3, 1.0), ("coil", 4, 0.0), ("discrete", 20, 1.0)
    ]  # fmt: skip
    for kind, address, value in bits:
        name = f"{kind}{address}"
        registers.append(RegisterConfig(name=name, address=address, kind=kind, data_type="bool"))
        values[name] = value
    return registers, values


async def test_decodes_every_type_and_order_from_a_real_server() -> None:
    registers, values = every_layout()
    async with modbus_tcp_server(registers, values) as server:
        source = ModbusSource("press-1", config(server.port, registers))
        sample = await first(source)
    assert sample.device == "press-1"
    assert sample.modality == "sensor"
    assert abs(sample.captured_at - time.time()) < 5
    assert list(sample.data) == [r.name for r in registers]  # config order
    assert sample.data == pytest.approx(values)
    assert sample.meta["units"]["float32_little_big"] == "u"


async def test_live_changes_reach_every_kind_and_layout() -> None:
    registers, values = every_layout()
    changed = {
        name: (1.0 - value if name.startswith(("coil", "discrete")) else value / 2 + 11.0)
        for name, value in values.items()
    }
    async with (
        modbus_tcp_server(registers, values) as server,
        aclosing(ModbusSource("press-1", config(server.port, registers)).stream()) as stream,
    ):
        before = await anext(stream)
        for name, value in changed.items():
            server.set(name, value)
        after = await anext(stream)
    assert before.data == pytest.approx(values)
    assert after.data == pytest.approx(changed)


async def test_polls_at_the_configured_rate_and_sees_live_changes() -> None:
    temp = RegisterConfig(name="temp", address=100, data_type="float32", scale=1.0)
    async with modbus_tcp_server([temp], {"temp": 20.0}) as server:
        source = ModbusSource("oven", config(server.port, [temp], poll_hz=20.0))
        seen: list[float] = []
        start = time.monotonic()
        async with aclosing(source.stream()) as stream:
            async for sample in stream:
                assert isinstance(sample.data, dict)
                seen.append(sample.data["temp"])
                if len(seen) == 3:
                    server.set("temp", 85.5)
                if len(seen) == 6:
                    break
        elapsed = time.monotonic() - start
    assert seen[:3] == [20.0, 20.0, 20.0]
    assert seen[3:] == [85.5, 85.5, 85.5]
    assert 0.2 <= elapsed < 1.0  # 5 periods of 50 ms after the first, immediate poll


async def test_unmapped_address_is_an_exception_response() -> None:
    mapped = RegisterConfig(name="ok", address=0)
    async with modbus_tcp_server([mapped], {"ok": 1.0}) as server:
        missing = RegisterConfig(name="missing", address=500)
        message, _ = await first_error(ModbusSource("dev", config(server.port, [missing])))
    assert "ILLEGAL_ADDRESS (2)" in message
    assert "holding 500..500" in message
    assert f"{HOST}:{server.port}" in message
    assert message.startswith("dev: ")


async def test_silent_server_times_out() -> None:
    temp = RegisterConfig(name="temp", address=0)
    async with silent_tcp_server() as endpoint:
        message, elapsed = await first_error(ModbusSource("dev", config(endpoint.port, [temp])))
    assert "no valid reply" in message
    assert elapsed < TIMEOUT_S + 0.5


async def test_retries_extend_the_wait_but_still_fail() -> None:
    temp = RegisterConfig(name="temp", address=0)
    async with silent_tcp_server() as endpoint:
        source = ModbusSource("dev", config(endpoint.port, [temp], timeout_s=0.1, retries=2))
        _, elapsed = await first_error(source)
    assert 0.25 <= elapsed < 0.8


async def test_garbage_reply_fails() -> None:
    temp = RegisterConfig(name="temp", address=0)
    async with garbage_tcp_server() as endpoint:
        message, elapsed = await first_error(ModbusSource("dev", config(endpoint.port, [temp])))
    assert "holding 0..0" in message
    assert elapsed < TIMEOUT_S + 0.5


@pytest.mark.parametrize("served", [1, 3])
async def test_reply_with_wrong_register_count_fails(served: int) -> None:
    temp = RegisterConfig(name="temp", address=0, data_type="float32")
    async with fixed_count_server(served) as endpoint:
        message, _ = await first_error(ModbusSource("dev", config(endpoint.port, [temp])))
    assert f"asked 2 registers, got {served}" in message


@pytest.mark.parametrize(
    ("register", "served"),
    [
        (RegisterConfig(name="flow", address=0, data_type="float32", high=10.0), math.nan),
        (RegisterConfig(name="flow", address=0, data_type="float32"), -math.inf),
        (RegisterConfig(name="flow", address=0, scale=1e308), 65535.0),
    ],
    ids=["float32 NaN", "float32 -inf", "scale overflows"],
)
async def test_a_value_that_is_not_finite_fails(register: RegisterConfig, served: float) -> None:
    """Found by tools/fuzz.py: a NaN reading went into the state payload, which cannot be
    encoded as JSON, so the device's state stopped being published (and NaN is never above a
    `high` limit)."""
    plain = register.model_copy(update={"scale": 1.0, "high": None})
    async with modbus_tcp_server([plain], {"flow": served}) as server:
        message, _ = await first_error(ModbusSource("dev", config(server.port, [register])))
    assert "register 'flow' reads" in message
    assert "not a finite number" in message


async def test_reply_with_too_few_bits_fails() -> None:
    coils = [
        RegisterConfig(name=f"c{i}", address=i, kind="coil", data_type="bool") for i in range(12)
    ]
    async with fixed_count_server(0) as endpoint:
        message, _ = await first_error(ModbusSource("dev", config(endpoint.port, coils)))
    assert "asked 12 bits (16 padded), got 0" in message


async def test_connection_refused() -> None:
    with refusing_port() as port:
        temp = RegisterConfig(name="temp", address=0)
        message, elapsed = await first_error(ModbusSource("dev", config(port, [temp])))
    assert f"cannot connect to modbus tcp {HOST}:{port}" in message
    assert elapsed < TIMEOUT_S + 0.5


async def test_server_going_away_mid_stream_fails_without_reconnecting() -> None:
    temp = RegisterConfig(name="temp", address=0)
    async with modbus_tcp_server([temp], {"temp": 5.0}) as server:
        stream = ModbusSource("dev", config(server.port, [temp])).stream()
        sample = await anext(stream)
    async with aclosing(stream):
        with pytest.raises(SourceError) as caught:
            await asyncio.wait_for(anext(stream), timeout=2.0)
    assert sample.data == {"temp": 5.0}
    assert "connection lost" in str(caught.value)


async def test_rtu_without_a_serial_line_fails_cleanly() -> None:
    temp = RegisterConfig(name="temp", address=0)
    rtu = ModbusConfig(
        transport="rtu", serial_port="/dev/does-not-exist", registers=[temp], timeout_s=0.2
    )
    message, _ = await first_error(ModbusSource("dev", rtu))
    assert "rtu /dev/does-not-exist@19200" in message
