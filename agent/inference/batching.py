"""Frames of several cameras through one model run: a session shared by every camera that uses
the same model file and backend, batching whatever frames are waiting.

On a GPU a small detector runs a batch of N frames in much less time than N single runs (per
run overhead, an idle device between small kernels). On a 2-core CPU, parallel sessions did
better (docs/performance.md), hence `max_batch: auto` (see batching_session).

No frame waits for a batch to fill: a frame that finds the model idle runs at once, alone.
Frames that arrive while a run is in progress queue, and the next run takes all of them (up to
`max_batch`, same input shape). So one camera, or cameras at low rates, see batch-1 latency;
saturated cameras get throughput.

There is no scheduler thread: the oldest waiting caller runs the next batch itself and hands
each other caller its slice of the output (no extra thread hop per frame).
"""

from __future__ import annotations

import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agent.config.base import Backend, BatchSize
from agent.inference.backends import runs_on_gpu
from agent.inference.loading import load_session
from agent.inference.models import file_identity
from agent.inference.session import InferenceSession, ModelError


@dataclass(eq=False, slots=True)
class _Request:
    """One caller's input; `wake` is set once: when its output is ready or when it must lead."""

    tensor: np.ndarray
    wake: threading.Event = field(default_factory=threading.Event)
    outputs: list[np.ndarray] | None = None
    error: Exception | None = None

    @property
    def answered(self) -> bool:
        return self.outputs is not None or self.error is not None


class BatchingSession:
    """Runs one-item inputs ([1, ...]) on `session`, batching those that wait at the same time."""

    def __init__(self, session: InferenceSession, max_batch: int) -> None:
        if len(session.input_names) != 1:
            names = session.input_names
            raise ModelError(f"{session.version}: batching needs one input, not {names}")
        self.session = session
        self.max_batch = min(max_batch, session.max_batch or max_batch)
        self.runs = 0  # model runs so far, and the items they carried: the mean batch size
        self.items = 0
        self._lock = threading.Lock()
        self._waiting: deque[_Request] = deque()
        self._busy = False

    def run(self, tensor: np.ndarray) -> list[np.ndarray]:
        """The model's outputs for `tensor` (batch axis of 1), each a [1, ...] slice."""
        request = _Request(tensor)
        with self._lock:
            self._waiting.append(request)
            leads = not self._busy
            self._busy = True
        if not leads:
            request.wake.wait()
        if not request.answered:  # woken as the oldest waiting: it runs the next batch
            self._lead()
        if request.error is not None:
            raise request.error
        assert request.outputs is not None
        return request.outputs

    def _lead(self) -> None:
        """Run the oldest waiting request with every waiting one of its shape, then hand over."""
        with self._lock:
            batch = self._take()
        try:
            self._execute(batch)
        finally:
            with self._lock:
                if self._waiting:
                    self._waiting[0].wake.set()
                else:
                    self._busy = False

    def _take(self) -> list[_Request]:
        """Under the lock: the oldest request and up to max_batch - 1 more of the same shape."""
        first = self._waiting.popleft()
        batch, rest = [first], deque[_Request]()
        for request in self._waiting:
            fits = len(batch) < self.max_batch and request.tensor.shape == first.tensor.shape
            (batch if fits else rest).append(request)
        self._waiting = rest
        return batch

    def _execute(self, batch: list[_Request]) -> None:
        try:
            stacked = (
                batch[0].tensor
                if len(batch) == 1
                else np.concatenate([request.tensor for request in batch])
            )
            outputs = self.session.run({self.session.input_names[0]: stacked})
        except Exception as exc:  # every caller of this batch gets the backend's error
            for request in batch:
                request.error = exc
        else:
            self.runs += 1
            self.items += len(batch)
            for index, request in enumerate(batch):
                request.outputs = [output[index : index + 1] for output in outputs]
        for request in batch:
            request.wake.set()


GPU_BATCH = 8  # `max_batch: auto` on a GPU backend

# Cameras of every device share a session while any of their scorers holds it; a model file
# rewritten or replaced (models.file_identity) gets a new one, as a reload expects.
_shared: weakref.WeakValueDictionary[tuple[object, ...], BatchingSession] = (
    weakref.WeakValueDictionary()
)
_shared_lock = threading.Lock()


def batching_session(
    path: Path, backend: Backend, field_name: str, max_batch: BatchSize
) -> BatchingSession:
    """The session for `path` on `backend`: shared when it batches, else the camera's own.

    `max_batch` "auto" decides by where the model runs. On a GPU, batching is what fills the
    device. On the CPU, cameras with sessions of their own, running in parallel threads, kept
    every core busy, while one shared batching session left part of the CPU idle between
    batches and delivered fewer frames (docs/performance.md), so there each camera gets its own.
    """
    key = (*file_identity(path), backend, max_batch)
    with _shared_lock:
        shared = _shared.get(key)
        if shared is not None:
            return shared
        session = load_session(path, backend, field_name)
        if max_batch == "auto":
            max_batch = GPU_BATCH if runs_on_gpu(session.backend) else 1
        batching = BatchingSession(session, max_batch)
        if batching.max_batch > 1:
            _shared[key] = batching
        return batching
