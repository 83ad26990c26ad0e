"""A real Modbus TCP device on a pymodbus server, serving a register map whose values can change.

Used by the demo and `tools/modbus_sim.py` (so users can try a register map without hardware)
and by the tests. The map is a pymodbus `SimDevice` holding exactly the configured registers
(gaps between registers of one kind read as zeros, since the agent's read planner may read
across them); anything else answers ILLEGAL ADDRESS, as a real device would.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from agent.senses.sensor.config import RegisterConfig
from agent.senses.sensor.registers import encode_value, register_count

_KINDS = ("coil", "discrete", "holding", "input")  # SimDevice's tuple order
_FUNCTION_KIND = {
    **dict.fromkeys((1, 5, 15), "coil"),
    2: "discrete",
    **dict.fromkeys((3, 6, 16, 22, 23), "holding"),
    4: "input",
}
_BITS_PER_WORD = 16
_UNUSED_BITS_AT = 65520  # where a kind without registers gets its (required) bit block


@dataclass
class ModbusDeviceServer:
    """A running simulated device; `set` changes a register's value for the next read."""

    host: str
    port: int
    registers: dict[str, RegisterConfig] = field(default_factory=dict)
    _pending: dict[str, dict[int, int]] = field(
        init=False, default_factory=lambda: defaultdict(dict)
    )
    _served: asyncio.Event = field(init=False, default_factory=asyncio.Event)

    def set(self, name: str, value: float) -> None:
        """Encode `value` like the device would and serve it from the next request on."""
        reg = self.registers[name]
        self._served.clear()
        for i, word in enumerate(encode_value(value, reg)):
            self._pending[reg.kind][reg.address + i] = word

    async def served(self) -> None:
        """Wait until a client's request has read the values set so far."""
        await self._served.wait()

    async def _apply_pending(
        self,
        function_code: int,
        start_address: int,
        _address: int,
        _count: int,
        current: list[int],
        _set_values: list[int] | list[bool] | None,
    ) -> None:
        """SimDevice action hook: pymodbus hands us the live block before each request."""
        self._served.set()
        kind = _FUNCTION_KIND[function_code]
        for address, word in self._pending.pop(kind, {}).items():
            if kind in ("coil", "discrete"):
                index, bit = divmod(address, _BITS_PER_WORD)
                mask = 1 << bit
                slot = index - start_address
                current[slot] = current[slot] | mask if word else current[slot] & ~mask
            else:
                current[address - start_address] = word


def _block(kind: str, registers: Sequence[RegisterConfig], values: dict[str, float]) -> SimData:
    """One contiguous SimData covering every register of a kind, gaps as zeros."""
    if not registers:
        if kind in ("coil", "discrete"):
            return SimData(_UNUSED_BITS_AT, values=[False] * 16, datatype=DataType.BITS)
        return SimData(0, datatype=DataType.INVALID)
    start = min(r.address for r in registers)
    end = max(r.address + register_count(r.data_type) for r in registers)
    words = [0] * (end - start)
    for reg in registers:
        encoded = encode_value(values.get(reg.name, 0.0), reg)
        words[reg.address - start : reg.address - start + len(encoded)] = encoded
    if kind in ("coil", "discrete"):
        return SimData(start, values=[bool(w) for w in words], datatype=DataType.BITS)
    return SimData(start, values=words, datatype=DataType.REGISTERS)


def sim_device(
    unit_id: int,
    registers: list[RegisterConfig],
    values: dict[str, float],
    handle: ModbusDeviceServer | None = None,
) -> SimDevice:
    """A pymodbus SimDevice serving `values` for `registers`; `handle.set` changes them."""
    unknown = set(values) - {r.name for r in registers}
    if unknown:
        raise ValueError(f"values for unknown registers: {sorted(unknown)}")
    coils, discretes, holding, inputs = (
        [_block(k, [r for r in registers if r.kind == k], values)] for k in _KINDS
    )
    action = handle._apply_pending if handle is not None else None
    return SimDevice(unit_id, simdata=(coils, discretes, holding, inputs), action=action)


@asynccontextmanager
async def modbus_device_server(
    registers: list[RegisterConfig],
    values: dict[str, float],
    unit_id: int = 1,
    host: str = "127.0.0.1",
    port: int = 0,
) -> AsyncIterator[ModbusDeviceServer]:
    """A pymodbus TCP server serving `values` for `registers` (port 0: a free one)."""
    handle = ModbusDeviceServer(host, port, {r.name: r for r in registers})
    device = sim_device(unit_id, registers, values, handle)
    server = ModbusTcpServer(device, address=(host, port))
    await server.serve_forever(background=True)
    try:
        handle.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        yield handle
    finally:
        await server.shutdown()
