"""Small asyncio helpers for tests: background jobs and polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

from agent.config.device import AgentConfig
from agent.runtime.agent import Agent


@contextlib.asynccontextmanager
async def running(*jobs: Coroutine[Any, Any, None]) -> AsyncIterator[None]:
    """Run `jobs` as tasks for the duration of the block, then cancel them."""
    tasks = [asyncio.create_task(job) for job in jobs]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def eventually(condition: Callable[[], bool], seconds: float, every: float = 0.05) -> None:
    """Return once `condition()` holds; TimeoutError after `seconds`."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - nothing to wait on but the attribute itself
            await asyncio.sleep(every)


@contextlib.asynccontextmanager
async def agent_running(config: AgentConfig) -> AsyncIterator[Agent]:
    """The real agent in this process, stopped cleanly (queued work delivered) at the end."""
    agent = Agent(config)
    stop = asyncio.Event()
    task = asyncio.create_task(agent.run(stop))
    try:
        yield agent
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
