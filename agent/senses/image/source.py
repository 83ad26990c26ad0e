"""Camera source: OpenCV captures, files replayed in real time, live feeds read without lag."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import aclosing
from pathlib import Path
from typing import TypeVar

import cv2
import numpy as np

from agent.core.samples import Sample
from agent.observe.stages import Stage, timed
from agent.senses.image.config import SENSE, CameraConfig
from agent.senses.source import Pacer, SourceError, frame_sample

log = logging.getLogger(__name__)

T = TypeVar("T")
Frame = tuple[int, np.ndarray]  # (frame index, BGR frame)
READ_RETRY_S = 0.05  # pause after a failed live read, so a dead device does not spin a core


def is_live(uri: str) -> bool:
    """USB indices, GStreamer pipelines and network URLs are live; anything else is a file."""
    return uri.isdigit() or "!" in uri or "://" in uri


def open_capture(uri: str) -> cv2.VideoCapture:
    """Open `uri` the way its form says: USB index, GStreamer pipeline, file path or URL."""
    if uri.isdigit():
        capture = cv2.VideoCapture(int(uri))
    elif "!" in uri:
        capture = cv2.VideoCapture(uri, cv2.CAP_GSTREAMER)
    else:
        capture = cv2.VideoCapture(uri)
    if not capture.isOpened():
        capture.release()
        missing = not is_live(uri) and not Path(uri).is_file()
        raise SourceError(f"cannot open camera {uri!r}" + (" (no such file)" if missing else ""))
    return capture


def advance(capture: cv2.VideoCapture, count: int) -> tuple[int, np.ndarray | None]:
    """Grab `count` frames but decode only the last: (frames grabbed, that frame or None)."""
    with timed(Stage.DECODE):
        for grabbed in range(count):
            if not capture.grab():
                return grabbed, None
        ok, frame = capture.retrieve()
    return count, frame if ok else None


class LatestFrame:
    """A one-frame slot: the reader overwrites it, the sampler takes the newest, none queue up."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frame: np.ndarray | None = None
        self._count = 0
        self._at = time.monotonic()

    def put(self, frame: np.ndarray) -> None:
        with self._lock:
            self._frame, self._count, self._at = frame, self._count + 1, time.monotonic()

    def get(self) -> tuple[int, np.ndarray | None, float]:
        """(frames put so far, newest frame, monotonic time of the last put or of creation)."""
        with self._lock:
            return self._count, self._frame, self._at


class CaptureThread:
    """One thread owns the VideoCapture: every call runs there, so a release never races a read."""

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.capture: cv2.VideoCapture | None = None
        self.stop = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="camera")

    async def call(self, function: Callable[..., T], *args: object) -> T:
        """Run `function(*args)` on the capture thread; OpenCV errors become SourceErrors."""
        try:
            return await asyncio.get_running_loop().run_in_executor(
                self._executor, contextvars.copy_context().run, function, *args
            )
        except cv2.error as exc:
            raise SourceError(f"camera {self.uri!r}: {exc}") from exc

    async def open(self) -> cv2.VideoCapture:
        """(Re)open the capture, releasing the previous one first."""
        await self.call(self._release)
        self.capture = await self.call(open_capture, self.uri)
        return self.capture

    def start(self, function: Callable[..., None], *args: object) -> Future[None]:
        """Run a long job (the live reader) on the capture thread; it must watch `stop`."""
        return self._executor.submit(contextvars.copy_context().run, function, *args)

    def close(self) -> None:
        """Stop the reader and release after whatever still runs; never blocks the event loop."""
        self.stop.set()
        self._executor.submit(self._release)
        self._executor.shutdown(wait=False)

    def _release(self) -> None:
        if self.capture is not None:
            self.capture.release()
            self.capture = None


def read_continuously(
    capture: cv2.VideoCapture, latest: LatestFrame, stop: threading.Event
) -> None:
    """Drain a live capture as fast as it delivers, so the sampler always gets a fresh frame."""
    while not stop.is_set():
        with timed(Stage.DECODE):
            ok, frame = capture.read()
        if ok:
            latest.put(frame)
        else:
            stop.wait(READ_RETRY_S)  # a hiccup; the sampler's stall watchdog decides to give up


class CameraSource:
    """BGR frames from one OpenCV capture, sampled at `config.fps`."""

    modality = SENSE

    def __init__(self, device: str, config: CameraConfig) -> None:
        self.device = device
        self.config = config

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Samples until a file ends (without loop); SourceError when the capture fails."""
        worker = CaptureThread(self.config.uri)
        try:
            capture = await worker.open()
            live = is_live(self.config.uri)
            frames = self._live(worker, capture) if live else self._replay(worker, capture)
            async with aclosing(frames):
                async for index, frame in frames:
                    yield frame_sample(self.device, self.modality, frame, index, self.config.uri)
        finally:
            worker.close()

    async def _live(
        self, worker: CaptureThread, capture: cv2.VideoCapture
    ) -> AsyncGenerator[Frame, None]:
        """The newest frame at each tick; frames read in between are dropped, never queued."""
        latest = LatestFrame()
        reader = worker.start(read_continuously, capture, latest, worker.stop)
        pacer = Pacer(self.config.fps)
        taken = 0
        while True:
            await pacer.wait()
            if reader.done():
                raise SourceError(f"camera {self.config.uri!r}: reader died: {reader.exception()}")
            count, frame, at = latest.get()
            if count == taken or frame is None:
                self._check_stall(at)
                continue
            taken = count
            yield count - 1, frame

    async def _replay(
        self, worker: CaptureThread, capture: cv2.VideoCapture
    ) -> AsyncGenerator[Frame, None]:
        """A file at its own frame rate in wall-clock time, sampled at `fps`, looped if asked."""
        file_fps = await worker.call(capture.get, cv2.CAP_PROP_FPS)
        if not 0 < file_fps < 1000:
            log.warning(
                "camera %r reports %s fps, assuming %s", worker.uri, file_fps, self.config.fps
            )
            file_fps = self.config.fps
        pacer = Pacer(min(self.config.fps, file_fps))
        last_frame_at = time.monotonic()
        while True:
            await pacer.wait()
            position, started = -1, time.monotonic()  # each pass starts on a tick, at frame 0
            while True:
                target = max(position + 1, int((time.monotonic() - started) * file_fps))
                grabbed, frame = await worker.call(advance, capture, target - position)
                position += grabbed
                if frame is not None:
                    last_frame_at = time.monotonic()
                    yield position, frame
                elif position < target:
                    break  # end of file
                else:
                    log.warning("camera %r: cannot decode frame %d", worker.uri, position)
                    self._check_stall(last_frame_at)
                await pacer.wait()
            if position < 0:
                raise SourceError(f"camera {worker.uri!r}: no frame could be read")
            if not self.config.loop:
                return
            capture = await worker.open()

    def _check_stall(self, last_frame_at: float) -> None:
        """SourceError once no frame has arrived for `reopen_after_s`; the runtime reopens."""
        silent = time.monotonic() - last_frame_at
        if silent > self.config.reopen_after_s:
            raise SourceError(f"camera {self.config.uri!r}: no frame for {silent:.1f} s")
