"""Microphone source: live capture (sounddevice) or a WAV/FLAC file replayed in real time.

Both yield mono float32 windows of `window_s` seconds with meta `sample_rate`, `offset_s`
(where the window starts: in the file, or since the live stream opened) and `source`.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncGenerator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from agent.core.samples import Sample
from agent.senses.audio.config import MAX_SAMPLE_RATE, SENSE, MicrophoneConfig
from agent.senses.audio.preprocess import to_mono_float
from agent.senses.source import Pacer, SourceError

BLOCKS_PER_WINDOW = 10
QUEUED_WINDOWS = 2  # live audio kept while the consumer is busy; older blocks are dropped
STALL_S = 0.5  # silence from PortAudio beyond one window plus this means the device is gone
MAX_CHANNELS = 64  # a replayed file's; each window holds them all until mixed down


class MicrophoneSource:
    """One microphone of one device; a file replay stands in for it in tests and demos."""

    modality = SENSE

    def __init__(self, device: str, config: MicrophoneConfig) -> None:
        self.device = device
        self._config = config

    async def stream(self) -> AsyncGenerator[Sample, None]:
        """Windows from the file when configured, else from the live device."""
        file = self._config.file
        windows = self._capture() if file is None else self._replay(file)
        async with aclosing(windows):
            async for sample in windows:
                yield sample

    def _sample(self, window: np.ndarray, rate: int, offset: int, source: str) -> Sample:
        return Sample(
            device=self.device,
            modality=self.modality,
            captured_at=time.time(),
            data=window,
            meta={"sample_rate": rate, "offset_s": round(offset / rate, 6), "source": source},
        )

    async def _replay(self, path: Path) -> AsyncGenerator[Sample, None]:
        """Read block by block in a thread, one window per tick at the file's own rate."""
        with await asyncio.to_thread(_open, path) as audio:
            rate = audio.samplerate
            frames = max(1, round(self._config.window_s * rate))
            pacer = Pacer(1.0 / self._config.window_s)
            while True:
                offset = audio.tell() % audio.frames  # the end of a looped file is its start
                window = await asyncio.to_thread(_read, audio, frames, self._config.loop)
                if window is None:
                    return
                await pacer.wait()
                yield self._sample(window, rate, offset, str(path))

    async def _capture(self) -> AsyncGenerator[Sample, None]:
        """Assemble windows from the PortAudio callback's blocks, passed in through the loop."""
        sd = _sounddevice()
        loop = asyncio.get_running_loop()
        rate = self._config.sample_rate
        frames = max(1, round(self._config.window_s * rate))
        blocks: deque[np.ndarray] = deque(maxlen=QUEUED_WINDOWS * BLOCKS_PER_WINDOW)
        arrived = asyncio.Event()

        def push(block: np.ndarray) -> None:
            blocks.append(block)
            arrived.set()

        def callback(indata: np.ndarray, _frames: int, _time: Any, _status: Any) -> None:
            loop.call_soon_threadsafe(push, to_mono_float(indata))

        try:
            stream = sd.InputStream(
                device=_device_id(self._config.device),
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=max(1, frames // BLOCKS_PER_WINDOW),
                callback=callback,
            )
            stream.start()
        except Exception as exc:  # PortAudioError, or ValueError for an unknown device
            raise SourceError(f"cannot open microphone {self._config.device!r}: {exc}") from exc
        pending = np.zeros(0, dtype=np.float32)
        offset = 0
        try:
            while True:
                await _arrival(arrived, self._config.window_s + STALL_S, self._config.device)
                pending = np.concatenate([pending, *blocks])
                blocks.clear()
                while pending.size >= frames:
                    window, pending = pending[:frames], pending[frames:]
                    yield self._sample(window, rate, offset, f"device:{self._config.device}")
                    offset += frames
        finally:
            stream.close()


async def _arrival(arrived: asyncio.Event, timeout_s: float, device: object) -> None:
    """Wait for the next block; a stream that stays quiet this long has died (unplugged)."""
    try:
        async with asyncio.timeout(timeout_s):
            await arrived.wait()
    except TimeoutError:
        raise SourceError(
            f"microphone {device!r} delivered no audio for {timeout_s:.1f} s"
        ) from None
    arrived.clear()


def _open(path: Path) -> sf.SoundFile:
    """Blocking open that turns libsndfile's errors into a SourceError naming the file."""
    try:
        audio = sf.SoundFile(path)
    except (RuntimeError, OSError) as exc:  # LibsndfileError is a RuntimeError
        raise SourceError(f"cannot read audio file {path}: {exc}") from exc
    if audio.frames <= 0:
        audio.close()
        raise SourceError(f"audio file {path} holds no samples")
    if not 0 < audio.samplerate <= MAX_SAMPLE_RATE or audio.channels > MAX_CHANNELS:
        # a header's word sizes each window: 2 KB claiming 2 GHz would make it gigabytes
        audio.close()
        raise SourceError(
            f"audio file {path}: {audio.samplerate} Hz, {audio.channels} channels (at most "
            f"{MAX_SAMPLE_RATE} Hz and {MAX_CHANNELS} channels)"
        )
    return audio


def _read(audio: sf.SoundFile, frames: int, loop: bool) -> np.ndarray | None:
    """Blocking: the next mono window, wrapping to the start when looping; None at the end."""
    parts: list[np.ndarray] = []
    needed = frames
    try:
        while needed:
            block = audio.read(needed, dtype="float32", always_2d=True)
            parts.append(block)
            needed -= len(block)
            if needed and not loop:
                return None
            if needed:
                audio.seek(0)
    except RuntimeError as exc:  # LibsndfileError
        raise SourceError(f"cannot read audio file {audio.name}: {exc}") from exc
    return to_mono_float(np.concatenate(parts))


def _sounddevice() -> Any:
    """Import sounddevice only for live capture: it needs the PortAudio system library."""
    try:
        import sounddevice
    except (ImportError, OSError) as exc:
        raise SourceError(
            f"live microphone capture needs sounddevice and PortAudio ({exc}); "
            "install libportaudio2, or set `file` to replay a recording"
        ) from exc
    return sounddevice


def _device_id(device: str | int | None) -> str | int | None:
    """PortAudio takes an index or a name fragment; a numeric string means an index."""
    if isinstance(device, str) and device.isdigit():
        return int(device)
    return device
