"""Modbus TCP servers on loopback for tests: a well-behaved device and broken ones.

`modbus_tcp_server` is the agent's own simulated device (agent/apps/simulate/modbus_server.py) on
a free loopback port. `raw_tcp_server` is a bare asyncio socket server whose replies a test
chooses byte by byte, for devices that stay silent or answer garbage.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from dataclasses import dataclass

from agent.apps.simulate.modbus_server import ModbusDeviceServer
from agent.apps.simulate.modbus_server import modbus_device_server as modbus_tcp_server

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
