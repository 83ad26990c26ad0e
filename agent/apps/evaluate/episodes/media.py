"""An episode's files as the Samples each sense's source would deliver, on the episode's clock.

Image: a BGR uint8 frame (cv2); thermal: the raw uint16 frame (the infrared source's reader);
audio: each clip cut into the microphone's `window_s` windows, mono float32 at the clip's own
rate, from its t_s on (a clip's windows stop where the next clip begins; a last part shorter
than a window is dropped, as a replayed file's is); sensor: {register: value} per row. A
sample's `captured_at` is its time in the episode, so every decision runs on that clock.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import soundfile as sf

from agent.apps.evaluate.datasets import DatasetError, read_colour
from agent.apps.evaluate.episodes.format import (
    MAX_MEDIA_BYTES,
    Episode,
    MediaIndex,
    RegisterTable,
)
from agent.core.samples import Sample
from agent.senses.audio.config import SENSE as AUDIO
from agent.senses.audio.preprocess import to_mono_float
from agent.senses.image.config import SENSE as IMAGE
from agent.senses.sensor.config import SENSE as SENSOR
from agent.senses.source import SourceError
from agent.senses.temperature.config import SENSE as TEMPERATURE
from agent.senses.temperature.source import read_raw_frame


def episode_samples(episode: Episode, window_s: float) -> Iterator[Sample]:
    """Every sample of every stream, in time order (ties: image, thermal, audio, sensor)."""
    device = episode.spec.device
    streams: list[Iterator[Sample]] = []
    if (index := episode.media.get(IMAGE)) is not None:
        streams.append(frames(device, IMAGE, index, read_colour))
    if (index := episode.media.get(TEMPERATURE)) is not None:
        streams.append(frames(device, TEMPERATURE, index, read_thermal))
    if (index := episode.media.get(AUDIO)) is not None:
        streams.append(windows(device, index, window_s, episode.spec.duration_s))
    if episode.table is not None:
        streams.append(polls(device, episode.table))
    return heapq.merge(*streams, key=lambda sample: sample.captured_at)


def read_thermal(path: Path) -> np.ndarray:
    """A 16-bit PNG of raw radiometric counts, read as the infrared source reads it."""
    try:
        return read_raw_frame(path)
    except SourceError as exc:
        raise DatasetError(str(exc)) from None


def frames(
    device: str, sense: str, index: MediaIndex, read: Callable[[Path], np.ndarray]
) -> Iterator[Sample]:
    """One frame sample per index row, each file read when its turn comes."""
    limit = MAX_MEDIA_BYTES[sense]
    for number, (t_s, path) in enumerate(zip(index.times_s, index.files, strict=True)):
        if path.stat().st_size > limit:
            raise DatasetError(f"{path}: over {limit} bytes")
        meta = {"frame_index": number, "uri": str(path)}
        yield Sample(device, sense, float(t_s), read(path), meta)


def windows(device: str, index: MediaIndex, window_s: float, end_s: float) -> Iterator[Sample]:
    """Each clip's windows from its t_s on, until the next clip (or the episode) begins."""
    starts = [*index.times_s.tolist(), end_s]
    for number, path in enumerate(index.files):
        t_s, next_s = starts[number], starts[number + 1]
        try:
            with sf.SoundFile(path) as clip:
                rate = clip.samplerate
                size = max(1, round(window_s * rate))
                offset = 0
                while t_s + offset / rate < next_s:
                    block = clip.read(size, dtype="float32", always_2d=True)
                    if len(block) < size:
                        break
                    meta = {"sample_rate": rate, "offset_s": round(offset / rate, 6),
                            "source": str(path)}  # fmt: skip
                    yield Sample(device, AUDIO, t_s + offset / rate, to_mono_float(block), meta)
                    offset += size
        except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
            raise DatasetError(f"{path}: not an audio file soundfile can read ({exc})") from None


def polls(device: str, table: RegisterTable) -> Iterator[Sample]:
    """One {register: value} sample per row, as the Modbus source decodes a poll."""
    units = dict.fromkeys(table.registers, "")
    for t_s, row in zip(table.times_s.tolist(), table.values.tolist(), strict=True):
        data = dict(zip(table.registers, row, strict=True))
        yield Sample(device, SENSOR, t_s, data, {"units": dict(units)})
