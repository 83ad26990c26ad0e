"""Our detector path against Ultralytics' own predictor: same ONNX model, same video, same run.

Users pick the agent over a plain Ultralytics loop only if it is faster end to end on the same
hardware, so both sides are timed from the first decoded frame to the last result, decode
included, in alternating rounds so that a busy machine slows both alike. Ultralytics comes with
the `train` extra and is imported only here, only when asked for.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import queue
import statistics
import threading
import time
from collections.abc import Callable, Generator
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.bench.video import read_frames
from agent.inference.backends import runs_on_gpu
from agent.senses.image.config import SENSE, CameraConfig, DetectorConfig
from agent.senses.image.scorer import DetectorScorer
from agent.senses.image.source import open_capture
from agent.senses.source import frame_sample

DECODE_DEPTH = 4  # frames decoded ahead of the detector
Slot = np.ndarray | None  # a decoded frame, or None at the end of the file


class UltralyticsMissingError(RuntimeError):
    """The comparison needs Ultralytics, which only the `train` extra installs."""


@dataclass(frozen=True, slots=True)
class Settings:
    """What both sides run with: the same thresholds and frame budget."""

    confidence: float = 0.25
    iou: float = 0.45
    max_detections: int = 100
    frames: int = 300  # per round, fewer if the video is shorter
    duration_s: float | None = None  # per round, stop earlier once this much time has passed


@dataclass(frozen=True, slots=True)
class Run:
    """One timed pass over the video."""

    frames: int
    seconds: float
    detections: int

    @property
    def fps(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else 0.0


def require_ultralytics() -> str:
    """Ultralytics' version, or a clear error naming the extra that installs it."""
    if importlib.util.find_spec("ultralytics") is None:
        raise UltralyticsMissingError(
            "Ultralytics is not installed: the comparison needs the train extra "
            "(python3 -m venv .venv-train && .venv-train/bin/pip install -e '.[cpu,train]')"
        )
    return importlib.metadata.version("ultralytics")


def decoded_frames(video: Path, stop: threading.Event) -> Generator[np.ndarray, None, None]:
    """Frames decoded on their own thread, at most DECODE_DEPTH ahead; a file is never dropped
    from, so every frame is scored."""
    frames: queue.Queue[Slot] = queue.Queue(maxsize=DECODE_DEPTH)
    capture = open_capture(str(video))

    def decode() -> None:
        try:
            while not stop.is_set():
                ok, frame = capture.read()
                if not ok:
                    break
                _put(frames, frame, stop)
        finally:
            capture.release()
            _put(frames, None, stop)  # the end, after an error too: the consumer never hangs

    worker = threading.Thread(target=decode, name="decode", daemon=True)
    worker.start()
    try:
        while (frame := frames.get()) is not None:
            yield frame
    finally:
        stop.set()
        worker.join()


def _put(frames: queue.Queue[Slot], item: Slot, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            frames.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _timed(results: Generator[int], settings: Settings) -> Run:
    """Count frames and detections from `results` until the frame or time budget ends."""
    frames = detections = 0
    started = time.perf_counter()
    with closing(results):  # stops the decoding behind it at once
        for found in results:
            frames += 1
            detections += found
            elapsed = time.perf_counter() - started
            if frames >= settings.frames or (
                settings.duration_s and elapsed >= settings.duration_s
            ):
                break
        seconds = time.perf_counter() - started
    return Run(frames, seconds, detections)


def agent_scorer(model: Path, video: Path, settings: Settings) -> DetectorScorer:
    """The agent's detector as a camera config would build it, on the best backend here."""
    detector = DetectorConfig(
        model=model,
        confidence=settings.confidence,
        iou=settings.iou,
        max_detections=settings.max_detections,
    )
    camera = CameraConfig(uri=str(video), frame_size=None, detector=detector)
    return DetectorScorer("bench", camera)


def agent_pass(scorer: DetectorScorer, video: Path, settings: Settings) -> Callable[[], Run]:
    """Our path: frames decoded on their own thread, scored by the DetectorScorer."""

    def results() -> Generator[int]:
        stop = threading.Event()
        frames = decoded_frames(video, stop)
        try:
            for index, frame in enumerate(frames):
                sample = frame_sample("bench", SENSE, frame, index, str(video))
                yield len(scorer.score(sample).evidence["detections"])
        finally:
            frames.close()

    return lambda: _timed(results(), settings)


def ultralytics_pass(
    model: Path, video: Path, settings: Settings, imgsz: int, device: str
) -> Callable[[], Run]:
    """Ultralytics' own predictor on the ONNX file, reading the video itself; warmed once."""
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no hub, no font or asset downloads
    from ultralytics import YOLO  # the train extra, checked by require_ultralytics

    logging.getLogger("ultralytics").setLevel(logging.WARNING)  # keep stdout for the JSON
    yolo = YOLO(str(model), task="detect")
    arguments: dict[str, Any] = {
        "imgsz": imgsz,
        "conf": settings.confidence,
        "iou": settings.iou,
        "max_det": settings.max_detections,
        "device": device,
        "verbose": False,
    }
    yolo.predict(read_frames(video, 1)[0], **arguments)  # loads the session, builds the predictor

    def results() -> Generator[int]:
        stream = yolo.predict(str(video), stream=True, **arguments)
        try:
            for result in stream:
                yield len(result.boxes)
        finally:
            stream.close()

    return lambda: _timed(results(), settings)


def compare(model: Path, video: Path, settings: Settings, rounds: int = 3) -> dict[str, Any]:
    """Both loops, alternating for `rounds`; fps are medians, `vs_ultralytics` = ours / theirs."""
    version = require_ultralytics()
    scorer = agent_scorer(model, video, settings)
    ours = agent_pass(scorer, video, settings)
    # the same processor for both: GPU 0 when our backend runs there, else the CPU
    device = "0" if runs_on_gpu(scorer.session.backend) else "cpu"
    theirs = ultralytics_pass(model, video, settings, max(scorer.input_size), device)
    passes = {"ours": ours, "ultralytics": theirs}
    runs: dict[str, list[Run]] = {"ours": [], "ultralytics": []}
    for round_index in range(rounds):
        order = (
            list(passes) if round_index % 2 == 0 else list(reversed(passes))
        )  # no side always first
        for side in order:
            runs[side].append(passes[side]())
    ours_fps = statistics.median(run.fps for run in runs["ours"])
    theirs_fps = statistics.median(run.fps for run in runs["ultralytics"])
    return {
        "model": str(model),
        "video": str(video),
        "settings": asdict(settings),
        "rounds": rounds,
        "ours_fps": round(ours_fps, 2),
        "ultralytics_fps": round(theirs_fps, 2),
        "vs_ultralytics": round(ours_fps / theirs_fps, 3) if theirs_fps else None,
        "runs": {side: [_summary(run) for run in sides] for side, sides in runs.items()},
        "backend": scorer.session.backend,
        "ultralytics_version": version,
        "ultralytics_device": device,
    }


def _summary(run: Run) -> dict[str, Any]:
    return asdict(run) | {"seconds": round(run.seconds, 3), "fps": round(run.fps, 2)}
