"""Hooks the pipeline reports through; Prometheus metrics and `edge-agent bench` subscribe.

One timing mechanism for both: code wraps a stage in `timed(Stage.X)`, and every subscribed
`Observer` hears how long it took. The device and modality come from `scope()`, set once per
source task by the pipeline; asyncio.to_thread (the scorers) and the camera's capture thread
carry it along, so scorers and sources need no extra arguments. With no observer subscribed a
hook costs one clock read and an empty loop.
"""

from __future__ import annotations

import contextlib
import contextvars
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TypeVar


class Stage(StrEnum):
    """The stages a sample passes through, in order."""

    DECODE = "decode"  # camera: grab and decode the frame
    PREPROCESS = "preprocess"
    INFERENCE = "inference"  # the model alone (session.run)
    POSTPROCESS = "postprocess"
    SCORE = "score"  # the whole scorer call: preprocess + inference + postprocess
    FUSION = "fusion"
    PUBLISH = "publish"  # one MQTT publish until the broker's PUBACK


@dataclass(frozen=True, slots=True)
class Scope:
    """Where a timing comes from; empty strings where a stage is not per device (publish)."""

    device: str = ""
    modality: str = ""


@dataclass(frozen=True, slots=True)
class StageTiming:
    """One measured stage; `model` and `backend` are set for inference only."""

    stage: Stage
    seconds: float
    scope: Scope
    model: str = ""
    backend: str = ""


@dataclass(frozen=True, slots=True)
class Delivery:
    """An alarm event the broker acknowledged (its PUBACK)."""

    topic: str
    replayed: bool
    device: str = ""  # with `event`: empty for an event of no alarm's life
    event: str = ""  # raised, updated or cleared
    # from the capture of the sample that triggered it, evidence rendering included; None
    # when not known (an event a previous run stored, or one with no sample behind it)
    trigger_to_published_s: float | None = None


class Observer:
    """Override what you need; every hook runs on the thread that reports, so keep it cheap."""

    def on_stage(self, timing: StageTiming) -> None:
        """A stage finished."""

    def on_sample(self, scope: Scope, dropped: int) -> None:
        """A source delivered a sample; `dropped` samples were skipped since the previous one."""

    def on_decision(self, device: str, latency_s: float) -> None:
        """A fresh score was fused; latency_s runs from its sample's capture to the decision."""

    def on_alarm_event(self, device: str, event: str) -> None:
        """The alarm lifecycle emitted raised/updated/cleared."""

    def on_delivered(self, delivery: Delivery) -> None:
        """The broker acknowledged an alarm event."""

    def on_rejected(self, topic_kind: str, reason: str) -> None:
        """An inbound message (an ack) was refused: too large, too deep, not JSON, invalid…"""


AnObserver = TypeVar("AnObserver", bound=Observer)
NO_SCOPE = Scope()
_observers: tuple[Observer, ...] = ()  # replaced, never mutated: hooks iterate it as it is
_scope: contextvars.ContextVar[Scope] = contextvars.ContextVar("observe_scope", default=NO_SCOPE)


@contextlib.contextmanager
def subscribed(observer: AnObserver) -> Iterator[AnObserver]:
    """Hear every hook while inside the block."""
    global _observers
    _observers = (*_observers, observer)
    try:
        yield observer
    finally:
        _observers = tuple(o for o in _observers if o is not observer)


def observers() -> tuple[Observer, ...]:
    """The subscribed observers; one may unsubscribe while another hook runs over them."""
    return _observers


def scope(device: str, modality: str) -> None:
    """Label what this task (and the threads it starts) reports with device and modality."""
    _scope.set(Scope(device, modality))


def current_scope() -> Scope:
    """The scope set for this task, or the empty one."""
    return _scope.get()


@contextlib.contextmanager
def timed(stage: Stage, model: str = "", backend: str = "") -> Iterator[None]:
    """Time the block and report it, also when it raises (a failed stage still took time)."""
    started = time.perf_counter()
    try:
        yield
    finally:
        timing = StageTiming(stage, time.perf_counter() - started, _scope.get(), model, backend)
        for observer in observers():
            observer.on_stage(timing)


def frames_skipped(previous_index: object, meta: dict[str, object]) -> int:
    """Frames a camera skipped between two samples (0 at a loop restart or without indices)."""
    index = meta.get("frame_index")
    if not isinstance(index, int) or not isinstance(previous_index, int):
        return 0
    return max(0, index - previous_index - 1)


def sample(dropped: int = 0) -> None:
    """Report a sample delivered in the current scope."""
    where = _scope.get()
    for observer in observers():
        observer.on_sample(where, dropped)


def decision(device: str, latency_s: float) -> None:
    """Report a decision caused by a fresh score."""
    for observer in observers():
        observer.on_decision(device, latency_s)


def alarm_event(device: str, event: str) -> None:
    """Report an alarm lifecycle event."""
    for observer in observers():
        observer.on_alarm_event(device, event)


def delivered(delivery: Delivery) -> None:
    """Report an alarm event acknowledged by the broker."""
    for observer in observers():
        observer.on_delivered(delivery)


def rejected(topic_kind: str, reason: str) -> None:
    """Report an inbound message refused, by the kind of its topic and a short reason."""
    for observer in observers():
        observer.on_rejected(topic_kind, reason)
