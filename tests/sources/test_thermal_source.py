"""Infrared source over a real 16-bit PNG sequence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.senses.source import SourceError
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.source import InfraredSource
from tests.support.thermal_frames import frame_with_spot, write_sequence


def config(uri: str, loop: bool = False) -> InfraredConfig:
    return InfraredConfig(uri=uri, fps=50.0, loop=loop)


async def test_sequence_replays_frames_in_order(tmp_path: Path) -> None:
    frames = [frame_with_spot(25.0, spot) for spot in (None, 70.0, 120.0)]
    source = InfraredSource("pump-01", config(write_sequence(tmp_path, frames)))
    samples = [s async for s in source.stream()]
    assert len(samples) == 3
    for sample, frame in zip(samples, frames, strict=True):
        assert isinstance(sample.data, np.ndarray)
        assert sample.data.dtype == np.uint16
        assert np.array_equal(sample.data, frame)
    assert [s.meta["frame_index"] for s in samples] == [0, 1, 2]
    assert samples[0].captured_at < samples[-1].captured_at


async def test_loop_continues_past_the_end(tmp_path: Path) -> None:
    source = InfraredSource(
        "d", config(write_sequence(tmp_path, [frame_with_spot(25, None)]), True)
    )
    count = 0
    async for _ in source.stream():
        count += 1
        if count == 5:
            break
    assert count == 5


async def test_missing_frames_raise_source_error(tmp_path: Path) -> None:
    source = InfraredSource("d", config(str(tmp_path / "nothing_*.png")))
    with pytest.raises(SourceError, match="no thermal frames"):
        _ = [s async for s in source.stream()]


async def test_eight_bit_frame_is_refused(tmp_path: Path) -> None:
    import cv2

    cv2.imwrite(str(tmp_path / "frame_0000.png"), np.zeros((4, 4), np.uint8))
    source = InfraredSource("d", config(str(tmp_path / "frame_*.png")))
    with pytest.raises(SourceError, match="16-bit"):
        _ = [s async for s in source.stream()]


async def test_an_unreadable_frame_in_a_looping_sequence_is_skipped(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Reopened from its start after each error, the sequence would never pass a bad file."""
    import cv2

    write_sequence(tmp_path, [frame_with_spot(25.0, spot) for spot in (None, 70.0, 120.0)])
    cv2.imwrite(str(tmp_path / "frame_0001.png"), np.zeros((4, 4), np.uint8))  # 8-bit
    source = InfraredSource("d", config(str(tmp_path / "frame_*.png"), loop=True))
    seen: list[np.ndarray] = []
    async for sample in source.stream():
        assert isinstance(sample.data, np.ndarray)
        seen.append(sample.data)
        if len(seen) == 4:
            break
    assert [int(frame.max() > frame_with_spot(25.0, None).max()) for frame in seen] == [0, 1, 0, 1]
    assert caplog.text.count("thermal frame skipped") == 1  # said once, not every pass
