"""Modbus TCP/RTU polling source: one Sample of decoded register values per tick."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import AsyncGenerator, Sequence

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient
from pymodbus.client.base import ModbusBaseClient
from pymodbus.constants import ExcCodes
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from agent.core.samples import Sample
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


class ModbusSource:
    """Polls a device's register map at `poll_hz` over one connection.

    Every failure (connect, timeout, exception response, malformed reply, undecodable value,
    a value that is NaN or infinite: a float32 register's NaN, a scale that overflows) ends the
    stream with SourceError and closes the connection; pymodbus's own reconnect is
    off (reconnect_delay=0) so the runtime's supervisor decides when to try again.
    """

    modality = SENSE

    def __init__(self, device: str, config: ModbusConfig) -> None:
        self.device = device
        self.config = config
        self._blocks = plan_reads(config.registers, max_gap=config.max_gap)
        self._units = {reg.name: reg.unit for reg in config.registers}

    @property
    def endpoint(self) -> str:
        """Where the device is, as error messages name it."""
        if self.config.transport == "rtu":
            return f"rtu {self.config.serial_port}@{self.config.baudrate}"
        return f"tcp {self.config.host}:{self.config.port}"

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Connect, then yield one Sample per tick until the device fails."""
        client = self._client()
        try:
            if not await client.connect():
                raise SourceError(
                    f"{self.device}: cannot connect to modbus {self.endpoint} "
                    f"(timeout {self.config.timeout_s}s)"
                )
            pacer = Pacer(self.config.poll_hz)
            while True:
                await pacer.wait()
                values: dict[str, float] = {}
                for block in self._blocks:
                    values.update(await self._read(client, block))
                yield Sample(
                    device=self.device,
                    modality=SENSE,
                    captured_at=time.time(),
                    data={reg.name: values[reg.name] for reg in self.config.registers},
                    meta={"units": dict(self._units)},
                )
        finally:
            client.close()

    def _client(self) -> ModbusBaseClient:
        """A pymodbus async client without auto-reconnect; it needs the running loop."""
        cfg = self.config
        try:
            if cfg.transport == "rtu":
                return AsyncModbusSerialClient(
                    str(cfg.serial_port), baudrate=cfg.baudrate, parity=cfg.parity,
                    timeout=cfg.timeout_s, retries=cfg.retries, reconnect_delay=0,
                )  # fmt: skip
            return AsyncModbusTcpClient(
                cfg.host, port=cfg.port, timeout=cfg.timeout_s, retries=cfg.retries,
                reconnect_delay=0,
            )  # fmt: skip
        except RuntimeError as exc:  # pymodbus: pyserial missing for RTU
            raise SourceError(f"{self.device}: modbus {self.endpoint}: {exc}") from exc

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


def _exception_name(reply: ModbusPDU) -> str:
    """'ILLEGAL_ADDRESS (2)' for a known Modbus exception code, else just the number."""
    code = reply.exception_code
    try:
        return f"{ExcCodes(code).name} ({code})"
    except ValueError:
        return str(code)
