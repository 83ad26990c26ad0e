"""Cameras on one model share a session that batches the frames waiting at the same moment."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from pydantic import ValidationError

from agent.core.samples import Sample
from agent.inference.batching import BatchingSession, batching_session
from agent.inference.session import InferenceSession, OnnxRuntimeSession
from agent.senses.image.config import CameraConfig, DetectorConfig
from agent.senses.image.scorer import DetectorScorer
from tests.support import fake_tensorrt
from tests.support.onnx_models import brightness_detector

IMGSZ = 32
CLASSES = ["scratch", "dent"]


class GatedSession:
    """A real ONNX Runtime session whose runs wait for `gate`, so callers pile up behind one.

    Records the batch size of every run it is asked for.
    """

    def __init__(self, session: InferenceSession) -> None:
        self._session = session
        self.input_names = session.input_names
        self.output_names = session.output_names
        self.metadata = session.metadata
        self.version = session.version
        self.backend = session.backend
        self.input_shapes = session.input_shapes
        self.max_batch = session.max_batch
        self.gate = threading.Event()
        self.started = threading.Event()
        self.batch_sizes: list[int] = []

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        self.started.set()
        assert self.gate.wait(10), "the test never opened the gate"
        self.batch_sizes.append(len(next(iter(inputs.values()))))
        return self._session.run(inputs)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return brightness_detector(tmp_path / "bright.onnx", CLASSES, IMGSZ, dynamic=True)


def tensor(level: float) -> np.ndarray:
    return np.full((1, 3, IMGSZ, IMGSZ), level, dtype=np.float32)


def class0_score(outputs: list[np.ndarray]) -> float:
    (output,) = outputs
    assert output.shape == (1, 4 + len(CLASSES), 1)
    return float(output[0, 4, 0])


def wait_for_waiting(batching: BatchingSession, count: int) -> None:
    deadline = time.monotonic() + 10
    while len(batching._waiting) < count:
        assert time.monotonic() < deadline, "callers never queued"
        time.sleep(0.005)


def pile_up(gated: GatedSession, batching: BatchingSession, levels: list[float]) -> list[float]:
    """The first level runs alone and blocks; the others queue behind it; then the gate opens."""
    with ThreadPoolExecutor(len(levels)) as pool:
        first = pool.submit(batching.run, tensor(levels[0]))
        assert gated.started.wait(10)
        rest = [pool.submit(batching.run, tensor(level)) for level in levels[1:]]
        wait_for_waiting(batching, len(levels) - 1)
        gated.gate.set()
        return [class0_score(future.result(10)) for future in [first, *rest]]


def test_frames_waiting_behind_a_run_go_as_one_batch_each_with_its_own_output(
    model: Path,
) -> None:
    gated = GatedSession(OnnxRuntimeSession(model))
    batching = BatchingSession(gated, max_batch=8)
    levels = [0.9, 0.1, 0.8, 0.2, 0.7]

    scores = pile_up(gated, batching, levels)

    assert gated.batch_sizes == [1, 4]
    assert (batching.runs, batching.items) == (2, 5)
    alone = BatchingSession(OnnxRuntimeSession(model), 1)
    expected = [class0_score(alone.run(tensor(level))) for level in levels]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
    assert scores[0] > 0.99 and scores[1] < 0.01  # bright and dark are not swapped


def test_a_batch_never_exceeds_max_batch(model: Path) -> None:
    gated = GatedSession(OnnxRuntimeSession(model))
    batching = BatchingSession(gated, max_batch=2)

    pile_up(gated, batching, [0.5] * 6)

    assert gated.batch_sizes == [1, 2, 2, 1]


def test_inputs_of_another_shape_run_in_their_own_batch(model: Path, tmp_path: Path) -> None:
    gated = GatedSession(OnnxRuntimeSession(model))
    batching = BatchingSession(gated, max_batch=8)
    shapes: list[tuple[int, ...]] = []
    run = gated.run

    def record(inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        shapes.append(next(iter(inputs.values())).shape)
        return run(inputs)

    gated.run = record  # type: ignore[method-assign]
    square, wide = tensor(0.5), np.full((1, 3, 16, IMGSZ), 0.5, dtype=np.float32)
    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(batching.run, square)]
        assert gated.started.wait(10)
        futures += [pool.submit(batching.run, x) for x in (wide, square, wide)]
        wait_for_waiting(batching, 3)
        gated.gate.set()
        for future in futures:
            future.result(10)

    assert shapes == [(1, 3, IMGSZ, IMGSZ), (2, 3, 16, IMGSZ), (1, 3, IMGSZ, IMGSZ)]


def test_an_error_reaches_every_caller_of_its_batch_and_the_next_run_works(
    model: Path,
) -> None:
    gated = GatedSession(OnnxRuntimeSession(model))
    batching = BatchingSession(gated, max_batch=8)
    wrong = np.zeros((1, 3, IMGSZ), dtype=np.float32)  # rank 3: ONNX Runtime refuses it
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(batching.run, tensor(0.9))
        assert gated.started.wait(10)
        bad = [pool.submit(batching.run, wrong) for _ in range(2)]
        wait_for_waiting(batching, 2)
        gated.gate.set()
        assert class0_score(first.result(10)) > 0.99
        for future in bad:
            with pytest.raises(Exception, match=r"(?i)rank|dimension|shape"):
                future.result(10)

    assert class0_score(batching.run(tensor(0.1))) < 0.01  # not left busy


def test_a_fixed_batch_model_is_never_batched(tmp_path: Path) -> None:
    fixed = brightness_detector(tmp_path / "fixed.onnx", CLASSES, IMGSZ)
    assert BatchingSession(OnnxRuntimeSession(fixed), max_batch=8).max_batch == 1


def camera(model: Path, max_batch: int | Literal["auto"]) -> CameraConfig:
    return CameraConfig(
        uri="0", frame_size=None, detector=DetectorConfig(model=model, max_batch=max_batch)
    )


def frame_sample(device: str, level: int) -> Sample:
    frame = np.full((IMGSZ, IMGSZ, 3), level, dtype=np.uint8)
    return Sample(device, "image", time.time(), frame, {"frame_index": 0})


def test_cameras_on_one_model_share_its_session_unless_max_batch_is_1(model: Path) -> None:
    first, second = (DetectorScorer(d, camera(model, 8)) for d in ("press-1", "press-2"))
    assert first.batches is second.batches
    own = DetectorScorer("press-3", camera(model, 1))
    assert own.batches is not first.batches and own.batches.max_batch == 1


def test_auto_gives_each_camera_its_own_session_on_the_cpu(model: Path) -> None:
    first, second = (DetectorScorer(d, camera(model, "auto")) for d in ("press-1", "press-2"))
    assert first.session.backend == "onnxruntime/CPUExecutionProvider"
    assert first.batches is not second.batches
    assert first.batches.max_batch == second.batches.max_batch == 1


def test_max_batch_is_a_count_or_auto(model: Path) -> None:
    with pytest.raises(ValidationError, match="max_batch"):
        DetectorConfig(model=model, max_batch=0)
    with pytest.raises(ValidationError, match="max_batch"):
        DetectorConfig(model=model, max_batch="all")  # type: ignore[arg-type]  # wrong on purpose


def test_a_rewritten_model_file_gets_a_new_session(model: Path) -> None:
    before = batching_session(model, "onnxruntime", "backend", 8)
    brightness_detector(model, ["other", "classes", "now"], IMGSZ, dynamic=True)
    after = batching_session(model, "onnxruntime", "backend", 8)
    assert (
        after is not before and after.session.metadata["names"] != before.session.metadata["names"]
    )


def test_frames_of_several_cameras_batched_together_keep_their_own_detections(
    model: Path,
) -> None:
    first, dark_camera, bright_camera = (DetectorScorer(d, camera(model, 8)) for d in "abc")
    shared = first.batches
    gated = GatedSession(shared.session)
    shared.session = gated
    with ThreadPoolExecutor(3) as pool:
        warm = pool.submit(first.score, frame_sample("a", 255))
        assert gated.started.wait(10)
        dark = pool.submit(dark_camera.score, frame_sample("b", 0))
        bright = pool.submit(bright_camera.score, frame_sample("c", 250))
        wait_for_waiting(shared, 2)
        gated.gate.set()
        scores = {"warm": warm.result(10), "dark": dark.result(10), "bright": bright.result(10)}

    assert gated.batch_sizes == [1, 2]
    assert scores["warm"].label == scores["bright"].label == "scratch"
    assert scores["bright"].device == "c"
    assert scores["dark"].label == "none" and scores["dark"].device == "b"


def test_auto_batches_cameras_on_a_gpu_backend_up_to_the_engines_profile(
    fakes: fake_tensorrt.Memory, tmp_path: Path
) -> None:
    profile = [[1, 1, 4], [1, 10, 4], [4, fake_tensorrt.MAX_T, 4]]  # up to 4 items a run
    onnx = fake_tensorrt.engine_beside(tmp_path, profile=profile)
    shared = batching_session(onnx, "auto", "backend", "auto")
    assert shared.session.backend == "tensorrt"
    assert shared.max_batch == 4  # auto's 8, capped by the engine
    assert batching_session(onnx, "auto", "backend", "auto") is shared

    gated = GatedSession(shared.session)
    shared.session = gated
    items = [np.full((1, 10, 4), float(i), np.float32) for i in range(4)]
    with ThreadPoolExecutor(4) as pool:
        first = pool.submit(shared.run, items[0])
        assert gated.started.wait(10)
        rest = [pool.submit(shared.run, item) for item in items[1:]]
        wait_for_waiting(shared, 3)
        gated.gate.set()
        outputs = [future.result(10)[0] for future in [first, *rest]]

    assert gated.batch_sizes == [1, 3]
    for item, output in zip(items, outputs, strict=True):
        np.testing.assert_allclose(output, item.sum(-1) * 2)  # each its own slice
