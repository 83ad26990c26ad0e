"""The toy accelerometer: windows of a scripted RMS level, paced like a real source."""

from __future__ import annotations

import itertools
import time
from collections.abc import AsyncGenerator

import numpy as np

from agent.core.samples import Sample
from agent.senses.source import Pacer
from tests.toy_sense.config import SENSE, AccelerometerConfig

WINDOW = 64


class AccelerometerSource:
    """One window per tick; a constant window has the scripted RMS."""

    modality = SENSE

    def __init__(self, device: str, config: AccelerometerConfig) -> None:
        self.device = device
        self.config = config

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Forever, like a live sensor."""
        pacer = Pacer(self.config.rate_hz)
        for index, level in enumerate(itertools.cycle(self.config.rms)):
            await pacer.wait()
            if self.config.level_file is not None:
                levels = self.config.level_file.read_text().split()
                level = float(levels[index % len(levels)])
            window = np.full(WINDOW, level, np.float32)
            yield Sample(self.device, SENSE, time.time(), window, {"frame_index": index})
