"""The cameras' detector sessions without the pipeline: the yardstick of the bench's efficiency."""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.apps.bench.video import read_frames
from agent.inference.session import InferenceSession
from agent.senses.image.scorer import DetectorScorer

SCORER_THREADS = min(32, (os.cpu_count() or 1) + 4)


@dataclass(frozen=True, slots=True)
class BareRuns:
    """Back-to-back model runs: the duration of each, and the frames they carried in all."""

    times: list[float]
    frames: int
    seconds: float

    def __add__(self, other: BareRuns) -> BareRuns:
        return BareRuns(
            self.times + other.times, self.frames + other.frames, self.seconds + other.seconds
        )

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class BareModel:
    """The cameras' detector sessions without the pipeline, run the way the pipeline runs them.

    One thread per session (cameras with sessions of their own run in parallel, at most as
    many as the pipeline's scorer threads), each back to back on one preprocessed frame of the
    same video: the tensor the pipeline's detector makes of it (rectangular input included),
    repeated `batch` times, the largest batch the cameras sharing a session can form.
    """

    sessions: tuple[InferenceSession, ...]
    tensor: np.ndarray
    batch: int

    @staticmethod
    def of(detectors: list[DetectorScorer], video: Path) -> BareModel:
        """The bare model for these cameras' detectors."""
        shared = list({id(d.batches): d.batches for d in detectors}.values())
        batch = min(-(-len(detectors) // len(shared)), shared[0].max_batch)
        tensor = detectors[0].model_input(read_frames(video, 1)[0])
        sessions = tuple(b.session for b in shared[:SCORER_THREADS])
        return BareModel(sessions, np.repeat(tensor, batch, axis=0), batch)

    def run(self, seconds: float) -> BareRuns:
        """Every session in its own thread for `seconds`."""
        for session in self.sessions:
            session.run({session.input_names[0]: self.tensor})  # warm
        started = time.perf_counter()
        with ThreadPoolExecutor(len(self.sessions)) as pool:
            runs = list(pool.map(lambda s: self._back_to_back(s, started + seconds), self.sessions))
        times = [t for durations in runs for t in durations]
        return BareRuns(times, len(times) * self.batch, time.perf_counter() - started)

    def _back_to_back(self, session: InferenceSession, deadline: float) -> list[float]:
        feed = {session.input_names[0]: self.tensor}
        times: list[float] = []
        while time.perf_counter() < deadline:
            run_started = time.perf_counter()
            session.run(feed)
            times.append(time.perf_counter() - run_started)
        return times
