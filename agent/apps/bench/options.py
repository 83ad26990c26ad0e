"""What `edge-agent bench` was asked for."""

from __future__ import annotations

from dataclasses import dataclass

from agent.apps.bench.video import FPS, SIZE


@dataclass(frozen=True, slots=True)
class BenchOptions:
    """What `edge-agent bench` was asked for."""

    duration_s: float = 20.0
    streams: int = 1
    fps: float = FPS  # per camera; the file's own 30 fps keeps the detector saturated
    camera_only: bool = False
    broker: tuple[str, int] | None = None
    model_s: float = 5.0  # how long the bare model runs
    compare: str | None = None  # "ultralytics": its predictor on the same model and video
    max_batch: int | None = None  # the cameras' detector.max_batch; None: the config's default
    size: tuple[int, int] = SIZE  # the video's frames; a smaller size takes decode out of the way
