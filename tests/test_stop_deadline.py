"""A stop that hangs is cut short with every thread's stack in the log, not left to a kill."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import yaml

from tests.support.agent_process import agent_config, log_records, thermal_device
from tests.support.tasks import eventually

# the agent, with a worker thread that never ends (as a blocked read would) and a short deadline
STUCK_AGENT = """
import sys, threading, time
import agent.runtime.agent as running
running.STOP_DEADLINE_S = 2.0
threading.Thread(target=time.sleep, args=(3600,), name="stuck-read").start()
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


@contextlib.asynccontextmanager
async def agent_process_running(
    script: str, tmp_path: Path, broker: tuple[str, int], prefix: str
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`edge-agent run` through `script` (which patches the agent first), one thermal device,
    its stderr in tmp_path/agent.log; killed at the end if it has not ended."""
    config = agent_config(prefix, tmp_path / "state", [thermal_device("pump-01", tmp_path, None)])
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    with (tmp_path / "agent.log").open("ab") as stderr:
        agent = await asyncio.create_subprocess_exec(
            sys.executable, "-c", script, "run", "--config", str(path),
            "--broker", f"{broker[0]}:{broker[1]}", stderr=stderr, env={**os.environ},
        )  # fmt: skip
        try:
            yield agent
        finally:
            if agent.returncode is None:
                agent.kill()
                await agent.wait()


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_a_thread_that_holds_the_exit_is_dumped_and_the_process_ends(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    log = tmp_path / "agent.log"
    async with agent_process_running(STUCK_AGENT, tmp_path, broker, topic_prefix) as agent:
        await eventually(lambda: bool(log_records(log, "agent starting")), 180)
        agent.send_signal(signal.SIGTERM)
        status = await asyncio.wait_for(agent.wait(), 60)
    text = log.read_text(errors="replace")
    assert log_records(log, "agent stopped")  # the agent's own stop was done...
    assert status == 1  # ...but the thread held the exit, until the deadline
    assert "Timeout (0:00:02)!" in text
    assert text.count("(most recent call first)") >= 2  # the main thread and the stuck one


# the agent, built slowly (as models loading on a cold Jetson are)
SLOW_START = """
import sys, time
import agent.runtime.agent as running
built = running.Agent.__init__
def slowly(self, config):
    print("building", file=sys.stderr, flush=True)
    time.sleep(20)
    built(self, config)
running.Agent.__init__ = slowly
from agent.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.timeout(120)
async def test_a_stop_while_the_agent_is_built_ends_it_at_once(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    """systemd's stop during a slow start is not held until the models have loaded."""
    log = tmp_path / "agent.log"
    async with agent_process_running(SLOW_START, tmp_path, broker, topic_prefix) as agent:
        await eventually(lambda: "building" in log.read_text(errors="replace"), 60)
        sent = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        await asyncio.wait_for(agent.wait(), 60)
        assert time.monotonic() - sent < 10  # not the 20 s the building takes
