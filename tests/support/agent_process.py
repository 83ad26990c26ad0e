"""`edge-agent run` as a separate process, exactly as systemd starts it."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path


@contextlib.asynccontextmanager
async def agent_process(
    config: Path, broker: tuple[str, int], log: Path | None = None
) -> AsyncIterator[asyncio.subprocess.Process]:
    """Run the agent on `config` against `broker` for the block; killed if still running.

    Its log goes to a pipe (read it with `communicate()`), or appended to `log` for a run
    too long for a pipe nobody reads.
    """
    with contextlib.ExitStack() as files:
        stderr = asyncio.subprocess.PIPE if log is None else files.enter_context(log.open("ab"))
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "run", "--config", str(config),
            "--broker", f"{broker[0]}:{broker[1]}",
            stderr=stderr,
        )  # fmt: skip
        try:
            yield process
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
