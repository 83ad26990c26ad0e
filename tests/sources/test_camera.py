"""Camera source on real encoded videos: real-time sampling, looping, broken files, stalls."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from agent.core.samples import Sample
from agent.senses.image import source as camera_module
from agent.senses.image.config import CameraConfig
from agent.senses.image.source import CameraSource, is_live
from agent.senses.source import SourceError

SIZE = (64, 48)
LEVEL_STEP = 6  # the frame counter is also the top half's grey level / LEVEL_STEP


def write_video(path: Path, frames: int, fps: float, fourcc: str = "MJPG") -> Path:
    """A real encoded video whose frame i shows i as text and as grey level i * LEVEL_STEP."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), fps, SIZE)
    if not writer.isOpened():
        pytest.skip(f"this OpenCV build cannot encode {fourcc}")
    for index in range(frames):
        frame = np.zeros((SIZE[1], SIZE[0], 3), dtype=np.uint8)
        frame[: SIZE[1] // 2] = index * LEVEL_STEP
        cv2.putText(frame, str(index), (2, SIZE[1] - 4), cv2.FONT_HERSHEY_PLAIN, 1, (255,) * 3)
        writer.write(frame)
    writer.release()
    return path


def counter(sample: Sample) -> int:
    """Read the frame counter back from the grey level of the frame's top half."""
    assert isinstance(sample.data, np.ndarray)
    return round(float(sample.data[4 : SIZE[1] // 2 - 4].mean()) / LEVEL_STEP)


def camera(uri: str | Path, tmp_path: Path, **settings: object) -> CameraSource:
    config = CameraConfig.model_validate(
        {"uri": str(uri), "detector": {"model": str(detector_file(tmp_path))}, **settings}
    )
    return CameraSource("press-7", config)


def detector_file(tmp_path: Path) -> Path:
    """CameraConfig insists on a readable detector file; the source never opens it."""
    path = tmp_path / "detector.onnx"
    path.touch()
    return path


async def collect(source: CameraSource, limit: int = 1000, within_s: float = 5.0) -> list[Sample]:
    """Samples until the stream ends or `limit`; a hang fails the test instead of blocking it."""
    samples: list[Sample] = []
    async with asyncio.timeout(within_s):
        async for sample in source.stream():
            samples.append(sample)
            if len(samples) == limit:
                break
    return samples


@pytest.mark.parametrize(("fourcc", "suffix"), [("MJPG", ".avi"), ("mp4v", ".mp4")])
async def test_file_is_replayed_in_real_time_and_sampled_at_fps(
    tmp_path: Path, fourcc: str, suffix: str
) -> None:
    video = write_video(tmp_path / f"clip{suffix}", frames=24, fps=40, fourcc=fourcc)  # 0.6 s
    source = camera(video, tmp_path, fps=10)

    started = time.monotonic()
    samples = await collect(source)  # ends by itself: loop is off
    elapsed = time.monotonic() - started

    assert 5 <= len(samples) <= 7  # 0.6 s at 10 fps
    assert elapsed >= 0.45  # real time, not as fast as the decoder goes
    indices = [s.meta["frame_index"] for s in samples]
    assert indices[0] == 0
    assert all(step >= 3 for step in np.diff(indices))  # ~4 frames skipped per sample
    assert [counter(s) for s in samples] == indices  # the frame decoded is the one named
    first = samples[0]
    assert (first.device, first.modality) == ("press-7", "image")
    assert first.meta["uri"] == str(video)
    assert isinstance(first.data, np.ndarray)
    assert first.data.shape == (SIZE[1], SIZE[0], 3)
    assert first.data.dtype == np.uint8
    assert abs(first.captured_at - time.time()) < 5


async def test_slow_file_yields_each_frame_once(tmp_path: Path) -> None:
    video = write_video(tmp_path / "slow.avi", frames=10, fps=50)
    samples = await collect(camera(video, tmp_path, fps=1000))

    assert [s.meta["frame_index"] for s in samples] == list(range(10))
    assert [counter(s) for s in samples] == list(range(10))


async def test_loop_replays_past_the_end(tmp_path: Path) -> None:
    video = write_video(tmp_path / "short.avi", frames=8, fps=40)  # 0.2 s, 4 samples a pass
    samples = await collect(camera(video, tmp_path, fps=20, loop=True), limit=10)

    indices = [s.meta["frame_index"] for s in samples]
    assert len(indices) == 10
    restarts = sum(1 for a, b in itertools.pairwise(indices) if b < a)
    assert restarts >= 1
    assert [counter(s) for s in samples] == indices


async def test_missing_file_is_a_source_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.avi"
    with pytest.raises(SourceError, match=r"nope\.avi.*no such file"):
        await collect(camera(missing, tmp_path))


async def test_garbage_file_is_a_source_error(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.avi"
    garbage.write_bytes(np.random.default_rng(3).bytes(20_000))
    with pytest.raises(SourceError, match="garbage"):
        await collect(camera(garbage, tmp_path, loop=True))


async def test_truncated_file_ends_or_fails_but_never_hangs(tmp_path: Path) -> None:
    video = write_video(tmp_path / "cut.avi", frames=40, fps=100)
    data = video.read_bytes()
    video.write_bytes(data[: len(data) * 6 // 10])

    try:
        samples = await collect(camera(video, tmp_path, fps=1000), within_s=5.0)
    except SourceError:
        return
    assert 0 < len(samples) < 40
    assert [counter(s) for s in samples] == [s.meta["frame_index"] for s in samples]


async def test_live_feed_that_stalls_is_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A file read as if it were live: the reader drains it at once, then nothing arrives.
    video = write_video(tmp_path / "feed.avi", frames=20, fps=40)
    monkeypatch.setattr(camera_module, "is_live", lambda uri: True)
    source = camera(video, tmp_path, fps=50, reopen_after_s=0.3)
    samples: list[Sample] = []

    started = time.monotonic()
    with pytest.raises(SourceError, match="no frame for"):
        async with asyncio.timeout(5):
            async for sample in source.stream():
                samples.append(sample)

    assert 0.3 <= time.monotonic() - started < 3
    indices = [s.meta["frame_index"] for s in samples]
    assert 1 <= len(indices) < 20  # newest frame only: the backlog is dropped, not queued
    assert indices == sorted(set(indices))
    assert [counter(s) for s in samples] == indices


async def test_frames_that_never_decode_stall_into_a_source_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    video = write_video(tmp_path / "undecodable.avi", frames=40, fps=40)  # 1 s

    def grab_but_fail_to_decode(capture: cv2.VideoCapture, count: int) -> tuple[int, None]:
        for _ in range(count):
            assert capture.grab()
        return count, None

    monkeypatch.setattr(camera_module, "advance", grab_but_fail_to_decode)
    started = time.monotonic()
    with pytest.raises(SourceError, match="no frame for"):
        await collect(camera(video, tmp_path, fps=20, reopen_after_s=0.3))

    assert time.monotonic() - started < 0.9  # the stall, not the end of the file, stopped it
    assert "cannot decode frame 0" in caplog.text


@pytest.mark.parametrize(
    ("uri", "live"),
    [
        ("0", True),
        ("rtsp://10.0.0.5/stream1", True),
        ("http://cam.local/mjpg", True),
        ("v4l2src device=/dev/video0 ! videoconvert ! appsink", True),
        ("/data/press7.mp4", False),
        ("clips/press7.avi", False),
    ],
)
def test_uri_kinds(uri: str, live: bool) -> None:
    assert is_live(uri) is live
