"""The bench's bare model runs the cameras' sessions the way the pipeline does."""

from __future__ import annotations

from pathlib import Path

from agent.apps.bench.bare import BareModel
from agent.config.base import BatchSize
from agent.senses.image.config import CameraConfig, DetectorConfig
from agent.senses.image.scorer import DetectorScorer
from tests.support.onnx_models import brightness_detector
from tests.support.video_files import write_flat_video


def detectors(tmp_path: Path, count: int, max_batch: BatchSize) -> list[DetectorScorer]:
    model = brightness_detector(tmp_path / "bright.onnx", ["scratch"], 32, dynamic=True)
    camera = CameraConfig(
        uri="0", frame_size=None, detector=DetectorConfig(model=model, max_batch=max_batch)
    )
    return [DetectorScorer(f"press-{i}", camera) for i in range(count)]


def test_cameras_with_sessions_of_their_own_run_in_parallel(tmp_path: Path) -> None:
    video = write_flat_video(tmp_path / "flat.avi", 200)
    bare = BareModel.of(detectors(tmp_path, 3, "auto"), video)  # the CPU: one session each
    assert (len(bare.sessions), bare.batch) == (3, 1)

    runs = bare.run(0.3)

    assert runs.frames == len(runs.times) > 3
    assert 0.3 <= runs.seconds < 2
    # three threads each busy the whole window: their calls add up to about 3x its length,
    # where sessions run one after another could add up to 1x at most
    assert sum(runs.times) > 1.5 * runs.seconds


def test_cameras_sharing_a_session_run_their_largest_batch(tmp_path: Path) -> None:
    video = write_flat_video(tmp_path / "flat.avi", 200)
    bare = BareModel.of(detectors(tmp_path, 3, 2), video)
    assert (len(bare.sessions), bare.batch) == (1, 2)
    assert bare.tensor.shape[0] == 2

    runs = bare.run(0.2) + bare.run(0.2)

    assert runs.frames == 2 * len(runs.times)
    assert runs.seconds >= 0.4  # both windows counted
