"""`edge-agent run` as a separate process, exactly as systemd starts it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from tests.support.thermal_frames import frame_with_spot, infrared_source


@contextlib.asynccontextmanager
async def agent_process(
    config: Path,
    broker: tuple[str, int],
    log: Path | None = None,
    env: dict[str, str] | None = None,
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run the agent on `config` against `broker` for the block; killed if still running.

    Its log goes to a pipe (read it with `communicate()`), or appended to `log` for a run
    too long for a pipe nobody reads. `env` adds to the environment (systemd's variables).
    """
    with contextlib.ExitStack() as files:
        stderr = asyncio.subprocess.PIPE if log is None else files.enter_context(log.open("ab"))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "run", "--config", str(config),
            "--broker", f"{broker[0]}:{broker[1]}",
            stderr=stderr, env={**os.environ, **(env or {})},
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


def log_records(log: Path, msg_start: str) -> list[dict[str, Any]]:
    """The agent's JSON log records in `log` whose message starts with `msg_start`."""
    records = []
    for line in log.read_text(errors="replace").splitlines() if log.exists() else []:
        with contextlib.suppress(ValueError):
            record = json.loads(line)
            if isinstance(record, dict) and str(record.get("msg", "")).startswith(msg_start):
                records.append(record)
    return records


def thermal_device(device_id: str, folder: Path, spot_c: float | None) -> dict[str, Any]:
    """A device watched by a thermal camera alone (no model to build): hot when `spot_c` > 90."""
    return {
        "id": device_id,
        "location": {"line": "L1", "zone": "test-bay", "position": device_id},
        "sources": {
            "infrared": infrared_source(
                folder / device_id,
                [frame_with_spot(28.0, spot_c)] * 2,
                scorer={"warn_c": 60, "limit_c": 90},
            )
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
