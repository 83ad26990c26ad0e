"""MicrophoneSource: WAV/FLAC replay in real time, and live capture through a fake sounddevice."""

from __future__ import annotations

import sys
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from agent.core.samples import Sample
from agent.senses.audio.source import BLOCKS_PER_WINDOW, QUEUED_WINDOWS, MicrophoneSource
from agent.senses.source import SourceError
from tests.support.audio_files import microphone_config, noise, write_audio


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "sound.onnx"
    path.write_bytes(b"unused by the source")
    return path


def source(model: Path, **fields: Any) -> MicrophoneSource:
    return MicrophoneSource("press-1", microphone_config(model, **fields))


def window(sample: Sample) -> np.ndarray:
    """A microphone sample's window of audio."""
    assert isinstance(sample.data, np.ndarray)
    return sample.data


async def take(mic: MicrophoneSource, limit: int) -> list[Sample]:
    samples: list[Sample] = []
    stream = mic.stream()
    async for sample in stream:
        samples.append(sample)
        if len(samples) == limit:
            break
    await stream.aclose()
    return samples


async def test_wav_replay_yields_paced_windows_then_ends(tmp_path: Path, model: Path) -> None:
    rate = 16_000
    path = write_audio(tmp_path / "press.wav", noise(0.5, rate, 0.2), rate)
    started = time.monotonic()
    samples = await take(source(model, file=path, window_s=0.1), limit=100)
    elapsed = time.monotonic() - started
    assert len(samples) == 5
    assert elapsed >= 0.35  # four waits of 0.1 s after the first window
    recorded, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(np.concatenate([s.data for s in samples]), recorded)
    for index, sample in enumerate(samples):
        assert sample.modality == "audio"
        assert sample.device == "press-1"
        assert window(sample).dtype == np.float32
        assert window(sample).shape == (1600,)
        assert sample.meta == {
            "sample_rate": rate,
            "offset_s": pytest.approx(0.1 * index),
            "source": str(path),
        }


async def test_flac_at_its_own_rate_drops_the_partial_tail(tmp_path: Path, model: Path) -> None:
    rate = 22_050
    signal = noise(0.35, rate, 0.2)
    path = write_audio(tmp_path / "press.flac", signal, rate, channels=2)
    mic = source(model, file=path, window_s=0.1, sample_rate=48_000)
    samples = await take(mic, limit=100)
    assert len(samples) == 3
    assert {s.meta["sample_rate"] for s in samples} == {rate}
    assert {window(s).shape for s in samples} == {(2205,)}
    recorded, _ = sf.read(path, dtype="float32")
    np.testing.assert_allclose(window(samples[0]), recorded[:2205].mean(axis=1), atol=1e-6)


async def test_loop_wraps_around_seamlessly(tmp_path: Path, model: Path) -> None:
    rate = 8000
    path = write_audio(tmp_path / "short.wav", noise(0.25, rate, 0.2), rate)
    samples = await take(source(model, file=path, window_s=0.1, loop=True), limit=6)
    assert len(samples) == 6
    offsets = [s.meta["offset_s"] for s in samples]
    assert offsets == pytest.approx([0.0, 0.1, 0.2, 0.05, 0.15, 0.0])
    recorded, _ = sf.read(path, dtype="float32")
    np.testing.assert_array_equal(
        np.concatenate([s.data for s in samples]), np.tile(recorded, 3)[: 6 * 800]
    )


@pytest.mark.parametrize("content", [b"RIFF\x00\x00\x00\x00WAVEjunk" * 4, b"not audio at all", b""])
async def test_an_unreadable_file_is_a_source_error(
    tmp_path: Path, model: Path, content: bytes
) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(SourceError, match=r"broken\.wav"):
        await take(source(model, file=path, window_s=0.1), limit=1)


@pytest.mark.parametrize(("rate", "channels"), [(50_000_000, 1), (8000, 65)])
async def test_a_file_whose_rate_or_channels_would_flood_memory_is_a_source_error(
    tmp_path: Path, model: Path, rate: int, channels: int
) -> None:
    """A window is `window_s` of the file's own rate and channels: a small file claiming
    50 MHz would make every window 200 MB."""
    path = write_audio(tmp_path / "huge.wav", noise(0.1, 8000), rate, channels)
    with pytest.raises(SourceError, match=r"huge\.wav: .* \(at most"):
        await take(source(model, file=path, window_s=1.0, loop=True), limit=1)


async def test_an_empty_recording_is_a_source_error(tmp_path: Path, model: Path) -> None:
    path = write_audio(tmp_path / "empty.wav", np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(SourceError, match="no samples"):
        await take(source(model, file=path, window_s=0.1, loop=True), limit=1)


async def test_live_capture_without_portaudio_is_a_source_error(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    with pytest.raises(SourceError, match="PortAudio"):
        await take(source(model, device="hw:1"), limit=1)


def fake_sounddevice(blocks: int, opened: list[dict[str, Any]]) -> types.ModuleType:
    """A sounddevice whose InputStream delivers `blocks` blocks of a ramp as it opens."""

    class InputStream:
        def __init__(self, callback: Callable[..., None], **settings: Any) -> None:
            opened.append(settings)
            self.callback = callback
            self.blocksize = settings["blocksize"]

        def start(self) -> None:
            for index in range(blocks):
                start = index * self.blocksize
                ramp = np.arange(start, start + self.blocksize, dtype=np.float32)
                self.callback(ramp[:, np.newaxis] / 1e6, self.blocksize, None, None)

        def close(self) -> None:
            opened.append({"closed": True})

    module = types.ModuleType("sounddevice")
    module.InputStream = InputStream  # type: ignore[attr-defined]
    return module


@pytest.mark.parametrize(
    ("blocks", "first_block"),
    [(2 * BLOCKS_PER_WINDOW, 0), (5 * BLOCKS_PER_WINDOW, 3 * BLOCKS_PER_WINDOW)],
)
async def test_live_capture_assembles_windows_and_drops_the_oldest(
    model: Path, monkeypatch: pytest.MonkeyPatch, blocks: int, first_block: int
) -> None:
    opened: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(blocks, opened))
    mic = source(model, device="2", sample_rate=8000, window_s=0.05)
    samples = await take(mic, limit=QUEUED_WINDOWS)
    assert opened[0] == {
        "device": 2,
        "samplerate": 8000,
        "channels": 1,
        "dtype": "float32",
        "blocksize": 40,
    }
    assert opened[-1] == {"closed": True}
    start = first_block * 40
    expected = np.arange(start, start + QUEUED_WINDOWS * 400, dtype=np.float32) / 1e6
    np.testing.assert_allclose(np.concatenate([s.data for s in samples]), expected)
    assert [s.meta["offset_s"] for s in samples] == [0.0, 0.05]
    assert {s.meta["sample_rate"] for s in samples} == {8000}
    assert samples[0].meta["source"] == "device:2"


async def test_a_stream_that_stops_delivering_is_a_source_error(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[dict[str, Any]] = []
    monkeypatch.setitem(sys.modules, "sounddevice", fake_sounddevice(BLOCKS_PER_WINDOW, opened))
    mic = source(model, device="hw:1", sample_rate=8000, window_s=0.05)
    with pytest.raises(SourceError, match="no audio"):
        await take(mic, limit=2)
    assert opened[-1] == {"closed": True}


async def test_a_device_that_will_not_open_is_a_source_error(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**settings: Any) -> None:
        raise ValueError("No input device matching 'hw:9'")

    module = types.ModuleType("sounddevice")
    module.InputStream = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sounddevice", module)
    with pytest.raises(SourceError, match="hw:9"):
        await take(source(model, device="hw:9"), limit=1)
