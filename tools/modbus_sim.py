"""Serve a SKAB-format recording as a Modbus TCP device, to try a register map without hardware.

    python tools/modbus_sim.py ../shared/data/skab/valve1/1.csv --port 5020 --rate 1 --loop

Prints the `registers:` block to paste into a device's `modbus:` config, then serves until
Ctrl-C. Each column is a float32 input register; --rate is rows per second (1 = real time).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from pathlib import Path

import yaml

from agent.apps.simulate.modbus_server import modbus_device_server
from agent.apps.simulate.skab_replay import read_recording, recording_registers, replay


async def serve(args: argparse.Namespace) -> None:
    recording = read_recording(args.csv)
    registers = recording_registers(recording.channels)
    first = dict(zip(recording.channels, map(float, recording.rows[0]), strict=True))
    async with modbus_device_server(registers, first, args.unit, args.host, args.port) as server:
        block = [r.model_dump(exclude_defaults=True) for r in registers]
        print(f"# Modbus TCP on {server.host}:{server.port}, unit {args.unit}")
        print(yaml.safe_dump({"registers": block}, sort_keys=False), flush=True)
        await replay(server, recording, args.rate, args.loop)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5020)
    parser.add_argument("--unit", type=int, default=1)
    parser.add_argument("--rate", type=float, default=1.0, help="rows per second")
    parser.add_argument("--loop", action="store_true")
    args = parser.parse_args()
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args))


if __name__ == "__main__":
    main()
