"""Supervision: a stalled camera is reopened, a crashing source is restarted, the rest goes on."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import cv2
import pytest

from agent.config.device import DeviceConfig
from agent.core.samples import Sample
from agent.runtime import pipeline as pipeline_module
from agent.senses.image import source as camera_module
from tests.support.logs import log_lines
from tests.support.onnx_models import brightness_detector
from tests.support.pipelines import beside_a_thermal_camera, running_pipeline
from tests.support.tasks import eventually
from tests.support.video_files import write_flat_video


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retry after 0.1 s instead of 1 s, so the test sees several reopenings quickly."""
    monkeypatch.setattr(pipeline_module, "RETRY_FIRST_S", 0.1)


def device(tmp_path: Path, camera: dict[str, Any]) -> DeviceConfig:
    return beside_a_thermal_camera(tmp_path, "press-7", "camera", camera)


async def test_a_camera_that_stops_delivering_is_reopened(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    broker: tuple[str, int],
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="agent.runtime.health")
    # a file read as if it were a live feed: its frames come at once, then nothing more
    monkeypatch.setattr(camera_module, "is_live", lambda uri: True)
    opened: list[str] = []

    def counting_open(uri: str) -> cv2.VideoCapture:
        opened.append(uri)
        return cv2.VideoCapture(uri)

    monkeypatch.setattr(camera_module, "open_capture", counting_open)
    video = write_flat_video(tmp_path / "feed.avi", 40, frames=5)
    camera = {
        "uri": str(video),
        "fps": 20,
        "reopen_after_s": 0.3,
        "detector": {"model": str(brightness_detector(tmp_path / "det.onnx", ["scratches"]))},
    }
    async with running_pipeline(device(tmp_path, camera), broker, topic_prefix) as pipeline:
        await eventually(lambda: len(opened) >= 3, 10)
        await eventually(lambda: pipeline.status().sources["image"].state == "ok", 5)
        assert pipeline.status().sources["temperature"].state == "ok"

    stalls = log_lines(caplog, "press-7 image source failed")
    assert stalls and all("no frame for" in line for line in stalls)
    assert len(log_lines(caplog, "press-7 image source ok")) >= 2  # back after a reopening
    assert pipeline.status().processed["image"] >= 2


class CrashingSource:
    """A source with a bug: its first stream raises a plain exception, later ones work."""

    modality = "image"

    def __init__(self, inner: Any) -> None:
        self.device = inner.device
        self.inner = inner
        self.streams = 0

    async def stream(self) -> AsyncIterator[Sample]:
        self.streams += 1
        if self.streams == 1:
            raise KeyError("bug in a driver")
        async for sample in self.inner.stream():
            yield sample


async def test_a_source_that_crashes_is_isolated_and_restarted(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="agent.runtime.health")
    camera = {
        "uri": str(write_flat_video(tmp_path / "cam.avi", 40, frames=5)),
        "fps": 10,
        "loop": True,
        "detector": {"model": str(brightness_detector(tmp_path / "det.onnx", ["scratches"]))},
    }
    async with running_pipeline(device(tmp_path, camera), broker, topic_prefix) as pipeline:
        # swapped before the supervisor's first step: its tasks have not run yet
        channel = pipeline._channels["image"]  # the test reaches in to make the source crash
        crashing = CrashingSource(channel.source)
        object.__setattr__(channel, "source", crashing)
        await eventually(lambda: pipeline.status().processed["image"] >= 2, 10)

    assert crashing.streams >= 2
    (crash,) = log_lines(caplog, "press-7 image source failed")
    assert "KeyError" in crash and "bug in a driver" in crash
    assert pipeline.status().sources["image"].state == "ok"
    assert pipeline.status().sources["temperature"].state == "ok"
