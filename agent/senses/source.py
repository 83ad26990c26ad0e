"""The Source interface: an async stream of Samples from one sensor of one device."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator
from typing import Protocol

import numpy as np

from agent.core.samples import Modality, Sample


class SourceError(Exception):
    """A source cannot deliver (device gone, file unreadable, garbage answer); it may be retried."""


class Source(Protocol):
    """Each implementation owns its blocking I/O (run in threads) and paces itself.

    `stream()` yields Samples as they are captured, never buffering more than one, and
    raises SourceError when the device fails; the runtime restarts it with backoff.
    A finite input returns normally when it ends. A Sample whose `meta["degraded"]` gives a
    reason marks the source `degraded` in health (it delivers, but not as configured: a
    shared serial bus too slow for its poll rate); the next sample without it, `ok` again.
    """

    device: str
    modality: Modality

    def stream(self) -> AsyncGenerator[Sample, None]: ...


class Pacer:
    """Keeps a loop at a fixed rate without drift; late ticks are skipped, not queued."""

    def __init__(self, rate_hz: float) -> None:
        self.period = 1.0 / rate_hz
        self._next = time.monotonic()

    async def wait(self) -> None:
        """Sleep until the next tick; if we are behind, realign instead of bursting."""
        now = time.monotonic()
        if self._next < now - self.period:
            self._next = now
        delay = self._next - now
        if delay > 0:
            await asyncio.sleep(delay)
        self._next += self.period


def frame_sample(
    device: str, modality: Modality, frame: np.ndarray, index: int, uri: str
) -> Sample:
    """A camera frame stamped now, with where it came from."""
    return Sample(
        device=device,
        modality=modality,
        captured_at=time.time(),
        data=frame,
        meta={"frame_index": index, "uri": uri},
    )


def array_of(sample: Sample) -> np.ndarray:
    """The sample's array (a frame or a sound window); a register dict here is a bug."""
    if not isinstance(sample.data, np.ndarray):
        raise TypeError(f"{sample.modality} evidence needs an array sample")
    return sample.data
