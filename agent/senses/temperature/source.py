"""Infrared source: raw 16-bit radiometric frames from an image sequence or a Y16 device."""

from __future__ import annotations

import asyncio
import glob
import logging
from collections.abc import AsyncGenerator, Iterator
from pathlib import Path

import cv2
import numpy as np

from agent.core.samples import Sample
from agent.senses.source import Pacer, SourceError, frame_sample
from agent.senses.temperature.config import SENSE, InfraredConfig

log = logging.getLogger(__name__)


def read_raw_frame(path: Path) -> np.ndarray:
    """A 16-bit single-channel PNG/TIFF as written by radiometric cameras' SDKs."""
    try:
        frame = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:  # past OPENCV_IO_MAX_IMAGE_PIXELS (agent/__init__.py), for one
        raise SourceError(f"cannot read thermal frame {path}: {exc.err}") from None
    if frame is None:
        raise SourceError(f"cannot read thermal frame {path}")
    if frame.dtype != np.uint16 or frame.ndim != 2:
        raise SourceError(f"{path}: expected 16-bit mono, got {frame.dtype} {frame.shape}")
    return frame


class SequenceReader:
    """Frames from a sorted glob of files; the stand-in for a camera we do not have here."""

    def __init__(self, pattern: str, loop: bool) -> None:
        self.paths = sorted(Path(p) for p in glob.glob(pattern))  # noqa: PTH207 (absolute glob)
        if not self.paths:
            raise SourceError(f"no thermal frames match {pattern}")
        self.loop = loop

    def frames(self) -> Iterator[np.ndarray]:
        """Each frame once, or forever when looping. A file that cannot be read is skipped
        (logged once): a sequence is reopened from its start after an error, so one bad file
        would otherwise hold back every frame after it; a pass with none read is an error."""
        unreadable: set[Path] = set()
        while True:
            read, problem = 0, ""
            for path in self.paths:
                try:
                    frame = read_raw_frame(path)
                except SourceError as exc:
                    problem = str(exc)
                    if path not in unreadable:
                        unreadable.add(path)
                        log.warning("thermal frame skipped", extra={"fields": {"error": problem}})
                    continue
                read += 1
                yield frame
            if not read:
                raise SourceError(f"no frame of the sequence could be read: {problem}")
            if not self.loop:
                return


class Y16Reader:
    """A UVC thermal camera streaming Y16 through OpenCV (FLIR Lepton/Boson style)."""

    def __init__(self, uri: str) -> None:
        target: int | str = int(uri) if uri.isdigit() else uri
        self.capture = cv2.VideoCapture(target)
        if not self.capture.isOpened():
            raise SourceError(f"cannot open thermal camera {uri}")
        self.capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter.fourcc(*"Y16 "))
        self.capture.set(cv2.CAP_PROP_CONVERT_RGB, 0)
        self.uri = uri

    def frames(self) -> Iterator[np.ndarray]:
        """Frames until the device stops answering."""
        try:
            while True:
                ok, frame = self.capture.read()
                if not ok or frame is None:
                    raise SourceError(f"thermal camera {self.uri} stopped delivering frames")
                yield frame.view(np.uint16).reshape(frame.shape[0], -1)
        finally:
            self.capture.release()


class InfraredSource:
    """Yields raw uint16 frames at the configured rate; calibration happens in the scorer."""

    modality = SENSE

    def __init__(self, device: str, config: InfraredConfig) -> None:
        self.device = device
        self.config = config

    def _reader(self) -> SequenceReader | Y16Reader:
        if self.config.format == "y16":
            return Y16Reader(self.config.uri)
        return SequenceReader(self.config.uri, self.config.loop)

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Read each frame in a thread so a slow device never blocks the loop."""
        reader = await asyncio.to_thread(self._reader)
        frames = reader.frames()
        pacer = Pacer(self.config.fps)
        index = 0
        while True:
            await pacer.wait()
            frame = await asyncio.to_thread(next, frames, None)
            if frame is None:
                return
            yield frame_sample(self.device, self.modality, frame, index, self.config.uri)
            index += 1
