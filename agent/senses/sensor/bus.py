"""One RS-485 line, one master: the Modbus RTU devices on one serial port share a client.

A serial bus carries one request at a time. Every `ModbusSource` on a port attaches to the
port's `SerialBus` in the process-wide `BUSES` registry (keyed by the port's resolved path);
the first attach opens the client, the last detach closes it. A source polls inside
`bus.turn()`, an asyncio lock taken in arrival order, so devices take turns whole polls at a
time and each keeps its own poll rate as far as the bus allows; `RateMeter` tells when a
device gets less than it asked for.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

from pymodbus.client import AsyncModbusSerialClient

from agent.senses.sensor.config import port_key

SHORT_BELOW = 0.9  # a device polled below 90 % of its rate is short of it ...
KEPT_FROM = 0.97  # ... until it is back above 97 % (no flapping around one threshold)
MOVE_BY = 0.1  # a reported shortfall is updated when the rate moves by more than 10 %
MIN_WINDOW_S = 5.0  # the achieved rate is measured over 5 s, or 10 polls if those are longer


class LineSettings(NamedTuple):
    """What every device on one serial line must agree on (config.LINE_SETTINGS)."""

    baudrate: int
    parity: str


@dataclass(eq=False)
class SerialBus:
    """One serial port's client, shared by the devices on it, one request at a time."""

    port: str
    settings: LineSettings
    client: AsyncModbusSerialClient
    loop: asyncio.AbstractEventLoop
    users: int = 0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def connect(self, timeout_s: float) -> bool:
        """Open the port unless it is open (another device may have opened it already)."""
        async with self.lock:
            if self.client.connected:
                return True
            self.client.close()  # a port lost under another device: start it afresh
            self.client.ctx.comm_params.timeout_connect = timeout_s
            return await self.client.connect()

    @asynccontextmanager
    async def turn(self, timeout_s: float, retries: int) -> AsyncIterator[AsyncModbusSerialClient]:
        """The bus to one device for one poll; others wait in arrival order.

        Timeout and retries are the device's own: they are set on the shared client for
        the duration of its turn.
        """
        async with self.lock:
            self.client.ctx.comm_params.timeout_connect = timeout_s
            self.client.ctx.retries = retries
            yield self.client


class BusRegistry:
    """The open serial buses of this process, by resolved port path, reference counted."""

    def __init__(self) -> None:
        self._buses: dict[str, SerialBus] = {}

    def users(self, serial_port: str) -> int:
        """How many sources are attached to the port now."""
        bus = self._buses.get(port_key(serial_port))
        return bus.users if bus is not None else 0

    @asynccontextmanager
    async def attach(self, serial_port: str, settings: LineSettings) -> AsyncIterator[SerialBus]:
        """The port's bus (opened by the first device, closed when the last one leaves).

        Raises ValueError when the port is open at other settings (the config forbids it;
        a reload may briefly overlap an old device and a new one).
        """
        key = port_key(serial_port)
        loop = asyncio.get_running_loop()
        bus = self._buses.get(key)
        if bus is None or bus.loop is not loop:  # another loop's leftover is not ours to use
            client = AsyncModbusSerialClient(
                serial_port, baudrate=settings.baudrate, parity=settings.parity,
                reconnect_delay=0,
            )  # fmt: skip
            bus = self._buses[key] = SerialBus(key, settings, client, loop)
        elif bus.settings != settings:
            raise ValueError(
                f"serial port {key} is open at {bus.settings.baudrate} baud parity "
                f"{bus.settings.parity} by another device"
            )
        bus.users += 1
        try:
            yield bus
        finally:
            bus.users -= 1
            if bus.users == 0:
                bus.client.close()
                if self._buses.get(key) is bus:
                    del self._buses[key]


BUSES = BusRegistry()


class RateMeter:
    """The poll rate a device achieves against the one it is configured for.

    `poll()` is called once per completed poll and returns the achieved rate while it falls
    short (below 90 % of the configured rate over the last window), else None. The first
    window after start is not judged; a shortfall ends above 97 %, and its reported rate is
    updated only when it moves by more than 10 %, so health changes rarely.
    """

    def __init__(self, configured_hz: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.configured_hz = configured_hz
        self.window_s = max(MIN_WINDOW_S, 10.0 / configured_hz)
        self._clock = clock
        self._times: deque[float] = deque()
        self._started: float | None = None
        self.shortfall: float | None = None

    def poll(self) -> float | None:
        """Record a poll now; the achieved rate (Hz) while short of the configured one."""
        now = self._clock()
        if self._started is None:
            self._started = now
        self._times.append(now)
        while len(self._times) > 1 and self._times[1] <= now - self.window_s:
            self._times.popleft()  # keep one poll at or before the window's start
        if now - self._started < self.window_s:
            return self.shortfall
        span = self._times[-1] - self._times[0]
        achieved = (len(self._times) - 1) / span if span > 0 else 0.0
        if self.shortfall is None:
            if achieved < SHORT_BELOW * self.configured_hz:
                self.shortfall = achieved
        elif achieved >= KEPT_FROM * self.configured_hz:
            self.shortfall = None
        elif abs(achieved - self.shortfall) > MOVE_BY * self.shortfall:
            self.shortfall = achieved
        return self.shortfall
