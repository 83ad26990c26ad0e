"""`edge-agent run` as a child process, as systemd starts it, with its log lines collected."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.thermal_frames import CENTI_KELVIN, frame_with_spot, write_sequence


@dataclass
class AgentProcess:
    """The running agent and the JSON log lines it has written to stderr so far."""

    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)

    def logs(self, msg_start: str) -> list[dict[str, Any]]:
        """Decoded log records whose message starts with `msg_start`."""
        records = []
        for line in self.lines:
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                if str(record.get("msg", "")).startswith(msg_start):
                    records.append(record)
        return records

    async def collect(self) -> None:
        """Read stderr until the process closes it."""
        assert self.process.stderr is not None
        async for raw in self.process.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))


@contextlib.asynccontextmanager
async def agent_process(
    config: Path, broker: tuple[str, int], env: dict[str, str] | None = None
) -> AsyncIterator[AgentProcess]:
    """Start the agent on `config` with `--broker`; kill it if the test did not stop it."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "agent", "run", "--config", str(config),
        "--broker", f"{broker[0]}:{broker[1]}",
        stderr=asyncio.subprocess.PIPE, env={**os.environ, **(env or {})},
    )  # fmt: skip
    agent = AgentProcess(process)
    reader = asyncio.create_task(agent.collect())
    try:
        yield agent
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        await asyncio.gather(reader, return_exceptions=True)


def thermal_device(device_id: str, folder: Path, spot_c: float | None) -> dict[str, Any]:
    """A device watched by a thermal camera alone (no model to build): hot when `spot_c` > 90."""
    return {
        "id": device_id,
        "location": {"line": "L1", "zone": "test-bay", "position": device_id},
        "sources": {
            "infrared": {
                "uri": write_sequence(folder / device_id, [frame_with_spot(28.0, spot_c)] * 2),
                "fps": 4,
                "loop": True,
                "calibration": CENTI_KELVIN,
                "scorer": {"warn_c": 60, "limit_c": 90},
            }
        },
        "fusion": {"stale_after_s": 5},
    }


def agent_config(prefix: str, state_dir: Path, devices: list[dict[str, Any]]) -> dict[str, Any]:
    """A whole config; the broker address comes from --broker."""
    return {
        "site": "svc",
        "broker": {"topic_prefix": prefix, "host": "unused.invalid"},
        "inspection": {"interval_s": 60, "device_timeout_s": 5},
        "storage": {"dir": str(state_dir)},
        "devices": devices,
    }
