"""Modbus TCP/RTU polling source: one Sample of decoded register values per tick."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from pymodbus.client import AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from agent.core.samples import Sample
from agent.senses.sensor.bus import BUSES, LineSettings, RateMeter, SerialBus
from agent.senses.sensor.config import SENSE, ModbusConfig
from agent.senses.sensor.registers import ReadBlock, decode_value, plan_reads
from agent.senses.source import Pacer, SourceError

# pymodbus logs every retry and reconnect at INFO/DEBUG; its warnings and errors still show.
logging.getLogger("pymodbus").setLevel(logging.WARNING)

_READ_METHODS = {
    "holding": "read_holding_registers",
    "input": "read_input_registers",
    "coil": "read_coils",
    "discrete": "read_discrete_inputs",
}

Turn = Callable[[], AbstractAsyncContextManager[ModbusBaseClient]]  # the line for one poll


class ModbusSource:
    """Polls a device's register map at `poll_hz`.

    A TCP device has a connection of its own. An RTU device shares its serial port's client
    with the other devices on that port (agent/senses/sensor/bus.py): one request on the bus
    at a time, each device's poll whole; a device the bus cannot poll at its rate says so in
    its samples' `meta["degraded"]` (the pipeline shows it in the source's health).

    Every failure (connect, timeout, exception response, malformed reply, undecodable value,
    a value that is NaN or infinite: a float32 register's NaN, a scale that overflows) ends the
    stream with SourceError and leaves the connection (a TCP device's own, a serial port once
    its last device has left); pymodbus's own reconnect is off (reconnect_delay=0) so the
    runtime's supervisor decides when to try again.
    """

    modality = SENSE

    def __init__(self, device: str, config: ModbusConfig) -> None:
        self.device = device
        self.config = config
        self._blocks = plan_reads(config.registers, max_gap=config.max_gap)
        self._units = {reg.name: reg.unit for reg in config.registers}
        self._bus: SerialBus | None = None

    @property
    def endpoint(self) -> str:
        """Where the device is, as error messages name it."""
        if self.config.transport == "rtu":
            return f"rtu {self.config.serial_port}@{self.config.baudrate}"
        return f"tcp {self.config.host}:{self.config.port}"

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Connect (or join the serial bus), then yield one Sample per tick until it fails."""
        meter = RateMeter(self.config.poll_hz) if self.config.transport == "rtu" else None
        async with self._line() as turn:
            pacer = Pacer(self.config.poll_hz)
            while True:
                await pacer.wait()
                values: dict[str, float] = {}
                async with turn() as client:  # on a serial bus: the bus is ours till the end
                    for block in self._blocks:
                        values.update(await self._read(client, block))
                meta: dict[str, object] = {"units": dict(self._units)}
                if meter is not None and (achieved := meter.poll()) is not None:
                    meta["degraded"] = self._shortfall(achieved)
                yield Sample(
                    device=self.device,
                    modality=SENSE,
                    captured_at=time.time(),
                    data={reg.name: values[reg.name] for reg in self.config.registers},
                    meta=meta,
                )

    def _line(self) -> AbstractAsyncContextManager[Turn]:
        """The connection polls run on: the shared serial bus (RTU) or a client of our own."""
        return self._serial_line() if self.config.transport == "rtu" else self._tcp_line()

    @asynccontextmanager
    async def _tcp_line(self) -> AsyncIterator[Turn]:
        """A pymodbus TCP client of this device's own, without auto-reconnect."""
        cfg = self.config
        client = AsyncModbusTcpClient(
            cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=cfg.retries,
            reconnect_delay=0,
        )  # fmt: skip
        try:
            if not await client.connect():
                raise self._cannot_connect()
            yield lambda: _alone(client)
        finally:
            client.close()

    @asynccontextmanager
    async def _serial_line(self) -> AsyncIterator[Turn]:
        """The serial port's bus, shared with the other devices on it; one poll at a time."""
        cfg = self.config
        assert cfg.serial_port is not None  # the config requires it for rtu
        settings = LineSettings(cfg.baudrate, cfg.parity)
        async with AsyncExitStack() as stack:
            try:
                bus = await stack.enter_async_context(BUSES.attach(cfg.serial_port, settings))
            except (RuntimeError, ValueError) as exc:  # no pyserial; port open at other settings
                raise SourceError(f"{self.device}: modbus {self.endpoint}: {exc}") from exc
            self._bus = bus
            try:
                if not await bus.connect(cfg.timeout_s):
                    raise self._cannot_connect()
                yield lambda: bus.turn(cfg.timeout_s, cfg.retries)
            finally:
                self._bus = None

    def _cannot_connect(self) -> SourceError:
        return SourceError(
            f"{self.device}: cannot connect to modbus {self.endpoint} "
            f"(timeout {self.config.timeout_s}s)"
        )

    def _shortfall(self, achieved_hz: float) -> str:
        """Why a bus device is degraded: the rate it gets against the one configured."""
        users = self._bus.users if self._bus is not None else 1
        shared = f"shared by {users} devices" if users > 1 else "not shared"
        return (
            f"bus {self.config.serial_port} ({shared}) polls it at {achieved_hz:.2g} Hz "
            f"of {self.config.poll_hz:g} Hz configured"
        )

    async def _read(self, client: ModbusBaseClient, block: ReadBlock) -> dict[str, float]:
        """Read one block and decode its registers; any fault becomes SourceError."""
        if not client.connected:
            raise self._error(block, "connection lost")
        read = getattr(client, _READ_METHODS[block.kind])
        try:
            reply: ModbusPDU = await read(
                block.address, count=block.count, device_id=self.config.unit_id
            )
        except (ModbusException, OSError) as exc:
            raise self._error(block, f"no valid reply: {exc}") from exc
        if reply.isError():
            raise self._error(block, f"exception response {_exception_name(reply)}")
        words = self._words(reply, block)
        try:
            values = {
                reg.name: decode_value(block.words(reg, words), reg) for reg in block.registers
            }
        except ValueError as exc:
            raise self._error(block, f"cannot decode: {exc}") from exc
        for name, value in values.items():  # NaN is not JSON: no state could be published
            if not math.isfinite(value):
                raise self._error(block, f"register {name!r} reads {value}, not a finite number")
        return values

    def _words(self, reply: ModbusPDU, block: ReadBlock) -> Sequence[int]:
        """The reply's registers or bits, checked against the count asked for.

        Bit replies are padded to whole bytes, so only a short one is wrong.
        """
        if block.kind in ("coil", "discrete"):
            padded = -(-block.count // 8) * 8
            if len(reply.bits) != padded:
                raise self._error(
                    block, f"asked {block.count} bits ({padded} padded), got {len(reply.bits)}"
                )
            return [int(bit) for bit in reply.bits[: block.count]]
        if len(reply.registers) != block.count:
            raise self._error(block, f"asked {block.count} registers, got {len(reply.registers)}")
        return reply.registers

    def _error(self, block: ReadBlock, reason: str) -> SourceError:
        """A SourceError naming device, endpoint, unit, register block and reason."""
        return SourceError(
            f"{self.device}: modbus {self.endpoint} unit {self.config.unit_id} "
            f"{block.span}: {reason}"
        )


@asynccontextmanager
async def _alone(client: ModbusBaseClient) -> AsyncIterator[ModbusBaseClient]:
    """A turn on a connection nobody else uses."""
    yield client


def _exception_name(reply: ModbusPDU) -> str:
    """'ILLEGAL_ADDRESS (2)' for a known Modbus exception code, else just the number."""
    code = reply.exception_code
    try:
        return f"{ExcCodes(code).name} ({code})"
    except ValueError:
        return str(code)
