"""Modbus servers for tests: well-behaved devices on TCP and RTU, and broken ones.

`modbus_tcp_server` is the agent's own simulated device (agent/apps/simulate/modbus_server.py) on
a free loopback port. `raw_tcp_server` is a bare asyncio socket server whose replies a test
chooses byte by byte, for devices that stay silent or answer garbage. `pty_pair` is a serial
line (two pseudo-terminals joined by socat) and `modbus_rtu_server` serves simulated devices,
one per unit id, on one end of it, recording what crossed the line.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pymodbus.pdu import ModbusPDU
from pymodbus.server import ModbusSerialServer

from agent.apps.simulate.modbus_server import ModbusDeviceServer, sim_device
from agent.apps.simulate.modbus_server import modbus_device_server as modbus_tcp_server
from agent.senses.sensor.config import RegisterConfig

__all__ = ["Endpoint", "ModbusDeviceServer", "modbus_tcp_server"]

HOST = "127.0.0.1"


@dataclass
class Endpoint:
    """Where a test server listens."""

    host: str
    port: int


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


def dropping_tcp_server() -> AbstractAsyncContextManager[Endpoint]:
    """Accepts connections, then hangs up on the first request without a reply."""

    def hang_up(_request: bytes) -> bytes:
        raise ConnectionResetError("the device drops the connection")

    return raw_tcp_server(hang_up)


@asynccontextmanager
async def pty_pair() -> AsyncIterator[tuple[str, str]]:
    """Two pseudo-terminals joined by socat, like the two ends of one RS-485 line.

    Skips the test when socat is not installed.
    """
    socat = shutil.which("socat")
    if socat is None:
        pytest.skip("socat is not installed")
    folder = Path(tempfile.mkdtemp(prefix="rs485-"))
    ends = str(folder / "master"), str(folder / "devices")
    process = await asyncio.create_subprocess_exec(
        socat, "-d", "-d",
        f"pty,raw,echo=0,link={ends[0]}", f"pty,raw,echo=0,link={ends[1]}",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    try:
        async with asyncio.timeout(5.0):  # with -d -d socat says when both ends are made
            while b"starting data transfer loop" not in await process.stderr.readline():
                if process.stderr.at_eof():
                    raise RuntimeError("socat could not make the pseudo-terminals")
        yield ends
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class BusTrace:
    """What an RTU server saw on its line: each request and reply PDU in order, raw bytes in."""

    pdus: list[tuple[str, int, float]] = field(default_factory=list)  # (in/out, unit, time)
    received: bytearray = field(default_factory=bytearray)

    def packet(self, sending: bool, data: bytes) -> bytes:
        if not sending:
            self.received += data
        return data

    def pdu(self, sending: bool, pdu: ModbusPDU) -> ModbusPDU:
        self.pdus.append(("out" if sending else "in", pdu.dev_id, time.monotonic()))
        return pdu


@asynccontextmanager
async def modbus_rtu_server(
    serial_port: str, units: dict[int, tuple[list[RegisterConfig], dict[str, float]]]
) -> AsyncIterator[BusTrace]:
    """A pymodbus RTU server on `serial_port` answering for each unit id its register map."""
    trace = BusTrace()
    devices = [sim_device(unit, registers, values) for unit, (registers, values) in units.items()]
    server = ModbusSerialServer(
        devices, port=serial_port, baudrate=19200, trace_packet=trace.packet, trace_pdu=trace.pdu
    )
    await server.serve_forever(background=True)
    try:
        yield trace
    finally:
        await server.shutdown()
