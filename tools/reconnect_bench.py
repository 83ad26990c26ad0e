#!/usr/bin/env python3
"""Reconnect bench: how long after a broker's return the agent's broker link is back.

Runs a private Mosquitto on a free loopback port and an `MqttLink` publishing a QoS 1 message
every 0.2 s, then kills the broker (like a crash) `--outages` times, for a seeded uniformly
random 1 to `--max-outage` seconds each, with 1-3 s of uptime between outages. The broker's
return is the moment its port accepts TCP again (polled every 10 ms); the delay is from then
to `link.connected`. Prints JSON: the outages and the delays' p50, p99 and max, in seconds.

    tools/reconnect_bench.py --outages 30 --max-outage 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import logging
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from agent.config.device import BrokerConfig
from agent.sinks.mqtt.link import BrokerUnavailableError, MqttLink

POLL_S = 0.01
UPTIME_S = (1.0, 3.0)
PUBLISH_EVERY_S = 0.2


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def accepts(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:port."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), 0.5)
    except (OSError, TimeoutError):
        return False
    writer.transport.abort()
    return True


class Broker:
    """A private Mosquitto that can be killed and started again on the same port."""

    def __init__(self, workdir: Path) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        self.port = free_port()
        self.conf = workdir / "mosquitto.conf"
        self.log = workdir / "mosquitto.log"
        # as root, mosquitto would drop to user `mosquitto`, who cannot read our files
        user = getpass.getuser()
        self.conf.write_text(f"user {user}\nlistener {self.port} 127.0.0.1\nallow_anonymous true\n")
        self.command = [binary, "-c", str(self.conf)]
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process (it returns at once; the port opens a little later)."""
        with self.log.open("ab") as log:  # the child keeps its own fd
            self.process = subprocess.Popen(self.command, stdout=log, stderr=log)
        return self.process

    async def start(self) -> float:
        """Start it; return the loop time at which its port first accepts a connection."""
        process = self.spawn()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while not await accepts(self.port):
            if process.poll() is not None or loop.time() > deadline:
                raise RuntimeError(f"mosquitto did not start on port {self.port}; see {self.log}")
            await asyncio.sleep(POLL_S)
        return loop.time()

    def kill(self) -> None:
        """Kill it with no goodbye, like a crash."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None


async def keep_publishing(link: MqttLink, counts: dict[str, int]) -> None:
    """Publish a small QoS 1 message every PUBLISH_EVERY_S, counting what got through."""
    while True:
        try:
            await link.publish("bench/pump-01/state", b'{"ok": true}')
            counts["acked"] += 1
        except BrokerUnavailableError:
            counts["refused"] += 1
        await asyncio.sleep(PUBLISH_EVERY_S)


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100) with linear interpolation between ranks."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


async def bench(outages: int, min_outage: float, max_outage: float, seed: int) -> dict[str, object]:
    """Run the outages; the report as a JSON-ready dict."""
    rng = random.Random(seed)
    lengths = [rng.uniform(min_outage, max_outage) for _ in range(outages)]
    uptimes = [rng.uniform(*UPTIME_S) for _ in range(outages)]
    delays: list[float] = []
    counts = {"acked": 0, "refused": 0}
    with tempfile.TemporaryDirectory(prefix="reconnect-bench-") as workdir:
        broker = Broker(Path(workdir))
        await broker.start()
        link = MqttLink(BrokerConfig(port=broker.port, keepalive_s=5), "bench/status")
        tasks = [
            asyncio.create_task(link.run()),
            asyncio.create_task(keep_publishing(link, counts)),
        ]
        try:
            await asyncio.wait_for(link.connected.wait(), 10)
            for number, (length, uptime) in enumerate(zip(lengths, uptimes, strict=True), 1):
                await asyncio.sleep(uptime)
                broker.kill()
                await asyncio.sleep(length)
                returned = await broker.start()
                await asyncio.wait_for(link.connected.wait(), 120)
                delays.append(asyncio.get_running_loop().time() - returned)
                print(
                    f"outage {number}/{outages}: {length:.1f} s down, "
                    f"back {delays[-1]:.3f} s after the broker",
                    file=sys.stderr,
                )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            broker.kill()
    return {
        "outages": outages,
        "seed": seed,
        "outage_s": {
            "min": round(min(lengths), 2),
            "mean": round(statistics.fmean(lengths), 2),
            "max": round(max(lengths), 2),
        },
        "reconnect_after_return_s": {
            "p50": round(percentile(delays, 50), 3),
            "p99": round(percentile(delays, 99), 3),
            "max": round(max(delays), 3),
            "over_2s": sum(d > 2.0 for d in delays),
        },
        "publishes": counts,
        "delays_s": [round(d, 3) for d in delays],
    }


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the command line, run the bench, print its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--outages", type=int, default=30, help="how many outages (default 30)")
    parser.add_argument("--min-outage", type=float, default=1.0, help="shortest, s (default 1)")
    parser.add_argument("--max-outage", type=float, default=60.0, help="longest, s (default 60)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    args = parser.parse_args(argv)
    if not 0 < args.min_outage <= args.max_outage or args.outages < 1:
        parser.error("need --outages >= 1 and 0 < --min-outage <= --max-outage")
    logging.basicConfig(level=logging.ERROR)  # the link's "broker unreachable" is expected here
    with contextlib.suppress(KeyboardInterrupt):
        report = asyncio.run(bench(args.outages, args.min_outage, args.max_outage, args.seed))
        print(json.dumps(report, indent=2))
        return 0
    return 130


if __name__ == "__main__":
    sys.exit(main())
