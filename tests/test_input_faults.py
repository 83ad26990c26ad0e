"""Broken inputs (a corrupt or truncated video, a WAV at the wrong rate) degrade one modality.

Each runs the real pipeline of a device that also has a working thermal camera: the broken
modality is reported on the retained health topic with a reason and one clear log line, the
agent does not crash, and the thermal camera keeps being scored.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.core.samples import Modality
from agent.runtime.pipeline import DevicePipeline
from tests.support.audio_files import knock_model, knocking, write_audio
from tests.support.logs import log_lines
from tests.support.mqtt import Collector, subscribe
from tests.support.onnx_models import brightness_detector
from tests.support.pipelines import beside_a_thermal_camera, running_pipeline
from tests.support.tasks import eventually
from tests.support.video_files import write_flat_video

MODEL_RATE = 16_000


@pytest.fixture(autouse=True)
def health_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.runtime.health")


def corrupt_video(tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "corrupt.avi"
    path.write_bytes(np.random.default_rng(3).bytes(20_000))
    return camera(tmp_path, path)


def truncated_video(tmp_path: Path) -> dict[str, Any]:
    """A real video cut inside its header: it opens as nothing, or not at all."""
    path = write_flat_video(tmp_path / "cut.avi", 200, frames=20)
    path.write_bytes(path.read_bytes()[:2_000])
    return camera(tmp_path, path)


def camera(tmp_path: Path, video: Path) -> dict[str, Any]:
    detector = brightness_detector(tmp_path / "det.onnx", ["scratches"])
    return {"uri": str(video), "fps": 10, "loop": True, "detector": {"model": str(detector)}}


async def run_until_failed(
    tmp_path: Path,
    kind: str,
    settings: dict[str, Any],
    failed: tuple[str, Modality],
    broker: tuple[str, int],
    topic_prefix: str,
) -> tuple[dict[str, Any], DevicePipeline]:
    """Run pump-01 until `failed` (part, modality) says failed on the health topic and the
    thermal camera has been scored a few more times; the last health message and the pipeline.
    """
    part, modality = failed

    def reported(seen: Collector) -> bool:
        latest = seen.json("/health")[-1:]
        return bool(latest) and latest[0][part][str(modality)]["state"] == "failed"

    config = beside_a_thermal_camera(tmp_path, "pump-01", kind, settings)
    async with (
        subscribe(*broker, f"{topic_prefix}/#") as seen,
        running_pipeline(config, broker, topic_prefix) as pipeline,
    ):
        await seen.wait_for(reported, 10)
        scored = pipeline.status().processed["temperature"]
        await eventually(lambda: pipeline.status().processed["temperature"] > scored + 3, 5)
    return seen.json("/health")[-1], pipeline


@pytest.mark.parametrize(
    ("build", "reason"),
    [(corrupt_video, "corrupt.avi"), (truncated_video, "cut.avi")],
    ids=["corrupt", "truncated"],
)
async def test_broken_video_fails_the_image_source_only(
    tmp_path: Path,
    build: Any,
    reason: str,
    broker: tuple[str, int],
    topic_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    failed = ("sources", "image")
    health, pipeline = await run_until_failed(
        tmp_path, "camera", build(tmp_path), failed, broker, topic_prefix
    )
    assert health["state"] == "degraded"
    assert reason in health["sources"]["image"]["reason"]
    assert health["sources"]["temperature"]["state"] == "ok"
    decision = pipeline.status().last_decision
    assert decision is not None
    assert decision.modalities["image"].effective_weight == 0.0
    lines = log_lines(caplog, "pump-01 image source failed")
    assert lines and reason in lines[0]


async def test_wav_below_the_model_rate_fails_the_sound_model_only(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    rate = 8_000  # the model listens up to 8 kHz; an 8 kHz recording stops at 4 kHz
    microphone = {
        "file": str(write_audio(tmp_path / "mic.wav", knocking(1.0, rate), rate)),
        "loop": True,
        "window_s": 0.2,
        "classifier": {
            "model": str(knock_model(tmp_path / "sound.onnx")),
            "class_names": ["normal", "knocking"],
            "sample_rate": MODEL_RATE,
        },
    }
    failed = ("models", "audio")
    health, pipeline = await run_until_failed(
        tmp_path, "microphone", microphone, failed, broker, topic_prefix
    )
    assert health["state"] == "degraded"
    assert health["sources"]["audio"]["state"] == "ok"  # the file itself reads fine
    model = health["models"]["audio"]
    assert "8000 Hz, below the model's 16000 Hz" in model["reason"]
    assert model["model"] == pipeline.scorer("audio").models[0]
    assert pipeline.status().processed["audio"] == 0
    assert len(log_lines(caplog, "pump-01 audio model failed")) == 1  # once, not per window
