"""Real Modbus TCP servers on loopback for tests: a well-behaved device and broken ones.

`modbus_tcp_server` runs pymodbus's own `ModbusTcpServer` over a `SimDevice` (the 3.16
datastore; `ModbusDeviceContext` and friends are deprecated wrappers around it) that maps
exactly the configured registers, so anything else answers ILLEGAL_ADDRESS. Gaps between
registers of one kind are mapped as zeros, since the read planner may read across them.

`raw_tcp_server` is a bare asyncio socket server whose replies a test chooses byte by byte,
for devices that stay silent or answer garbage.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from pymodbus.server import ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from agent.config.sources import RegisterConfig
from agent.sources.registers import encode_value, register_count

HOST = "127.0.0.1"
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
class Endpoint:
    """Where a test server listens."""

    host: str
    port: int


@dataclass
class ModbusTestServer(Endpoint):
    """A running simulated device; `set` changes a register's value for the next read."""

    registers: dict[str, RegisterConfig] = field(default_factory=dict)
    _pending: dict[str, dict[int, int]] = field(
        init=False, default_factory=lambda: defaultdict(dict)
    )

    def set(self, name: str, value: float) -> None:
        """Encode `value` like the device would and serve it from the next request on."""
        reg = self.registers[name]
        for i, word in enumerate(encode_value(value, reg)):
            self._pending[reg.kind][reg.address + i] = word

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


@asynccontextmanager
async def modbus_tcp_server(
    registers: list[RegisterConfig], values: dict[str, float], unit_id: int = 1
) -> AsyncIterator[ModbusTestServer]:
    """A pymodbus TCP server on a free loopback port serving `values` for `registers`."""
    unknown = set(values) - {r.name for r in registers}
    if unknown:
        raise ValueError(f"values for unknown registers: {sorted(unknown)}")
    handle = ModbusTestServer(HOST, 0, {r.name: r for r in registers})
    blocks = tuple([_block(k, [r for r in registers if r.kind == k], values)] for k in _KINDS)
    device = SimDevice(unit_id, simdata=blocks, action=handle._apply_pending)
    server = ModbusTcpServer(device, address=(HOST, 0))
    await server.serve_forever(background=True)
    try:
        handle.port = server.transport.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        yield handle
    finally:
        await server.shutdown()


@asynccontextmanager
async def raw_tcp_server(respond: Callable[[bytes], bytes | None]) -> AsyncIterator[Endpoint]:
    """A TCP server answering each chunk it receives with `respond(chunk)`; None = say nothing."""
    writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.add(writer)
        try:
            while data := await reader.read(512):
                reply = respond(data)
                if reply is not None:
                    writer.write(reply)
                    await writer.drain()
        except ConnectionError:
            pass  # the client hung up mid-reply; nothing left to serve
        finally:
            writers.discard(writer)
            writer.close()

    server = await asyncio.start_server(handle, HOST, 0)
    try:
        yield Endpoint(HOST, server.sockets[0].getsockname()[1])
    finally:
        for writer in list(writers):
            writer.close()
        server.close()
        await server.wait_closed()


@contextmanager
def refusing_port() -> Iterator[int]:
    """A loopback port that is bound (so nobody else takes it) but not listening: refused."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        yield sock.getsockname()[1]


def silent_tcp_server() -> AbstractAsyncContextManager[Endpoint]:
    """Accepts connections and reads requests but never answers (a hung device)."""
    return raw_tcp_server(lambda _request: None)


def garbage_tcp_server(
    garbage: bytes = b"\xde\xad\xbe\xef" * 4,
) -> AbstractAsyncContextManager[Endpoint]:
    """Answers every request with bytes that are not a Modbus frame."""
    return raw_tcp_server(lambda _request: garbage)


def fixed_count_server(registers: int) -> AbstractAsyncContextManager[Endpoint]:
    """Answers each read with a well-framed reply holding `registers` zero registers.

    Whatever count was asked for, so a client asking for more or fewer sees a wrong length.
    """
    return raw_tcp_server(lambda request: mbap_reply(request, _read_pdu(request, registers)))


def mbap_reply(request: bytes, pdu: bytes) -> bytes:
    """Frame `pdu` as the Modbus/TCP reply to `request` (same transaction and unit id)."""
    transaction, protocol, _length, unit = struct.unpack(">HHHB", request[:7])
    return struct.pack(">HHHB", transaction, protocol, len(pdu) + 1, unit) + pdu


def _read_pdu(request: bytes, registers: int) -> bytes:
    """A read-registers reply PDU echoing the request's function code."""
    function_code = request[7]
    return struct.pack(">BB", function_code, 2 * registers) + b"\x00\x00" * registers
