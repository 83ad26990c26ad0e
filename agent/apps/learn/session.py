"""Learn one device's normal from its real sources, with progress, then save a new version.

The sources and learners are the agent's own (agent/learning/device.py): what is learned
here is what a first `run` with `learning.enabled` would learn. A running agent picks the new
version up on its next start or reload (SIGHUP).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from agent.config.device import DeviceConfig
from agent.learning.device import DeviceLearning, LearningProgress, finish_and_save
from agent.learning.store import Card, LearnedStore
from agent.senses.learning import LearningRefused
from agent.senses.registry import SENSES
from agent.senses.source import Source, SourceError

PROGRESS_EVERY_S = 1.0


class SourceFailed(Exception):  # noqa: N818 - a verdict on a source, like SourceError
    """A source the learners need stopped; the message names it and why."""


async def learn_device(
    device: DeviceConfig,
    store: LearnedStore,
    duration_s: float | None,
    report: Callable[[LearningProgress], None],
    reason: str = "command",
) -> Card:
    """Stream the device's senses into its learners until ready; save and return the card.

    LearningRefused when the data does not look healthy (every sense's reasons), SourceFailed
    when a source the learners need fails.
    """
    learning = DeviceLearning(device, reason, duration_s)
    sections = device.sources.configured()
    feeds = [
        feed(learning, SENSES[sense].source(device.id, sections[sense]), sense)
        for sense in learning.learners
    ]
    tasks = [asyncio.create_task(job) for job in feeds]
    try:
        while not learning.ready():
            report(learning.status())
            if stopped := [t for t in tasks if t.done()]:
                stopped[0].result()  # raises what stopped it
                raise SourceFailed(f"{device.id}: a source ended before learning was done")
            await asyncio.sleep(PROGRESS_EVERY_S)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    report(learning.status())
    saved, reasons = await asyncio.to_thread(finish_and_save, learning, store)
    if saved is None:
        raise LearningRefused(device.id, reasons)
    return saved


async def feed(learning: DeviceLearning, source: Source, sense: str) -> None:
    """Hand every sample of one source to its learner (in a thread: learning is CPU work)."""
    try:
        async with contextlib.aclosing(source.stream()) as samples:
            async for sample in samples:
                await asyncio.to_thread(learning.observe, sense, sample)
    except SourceError as exc:
        raise SourceFailed(f"{learning.device.id}: {sense}: {exc}") from exc
