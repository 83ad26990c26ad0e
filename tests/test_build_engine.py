"""tools/build_engine.py without TensorRT: shapes, calibration data, and a clear refusal."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from agent.inference.models import models_dir
from agent.inference.session import OnnxRuntimeSession
from tools.build_engine import (
    BuildError,
    calibration_batches,
    image_shape,
    input_profiles,
    main,
    parse_shape,
)

IMAGES = Path(__file__).parent / "fixtures" / "defects" / "images"


def test_shapes_parse_fixed_and_min_opt_max() -> None:
    assert parse_shape("images=1x3x192x192") == ("images", [[1, 3, 192, 192]] * 3)
    assert parse_shape("mfcc=1x1x40/1x99x40/1x400x40") == (
        "mfcc",
        [[1, 1, 40], [1, 99, 40], [1, 400, 40]],
    )
    for bad in ("1x3x192x192", "images=1x3xbig", "images=1x3/1x4", "images=0x3"):
        with pytest.raises(argparse.ArgumentTypeError, match="expected NAME="):
            parse_shape(bad)


def test_detector_profile_comes_from_its_imgsz_and_others_must_be_given() -> None:
    detector = OnnxRuntimeSession(models_dir() / "defects-yolov8n.onnx")
    assert input_profiles(detector, {}) == {"images": [[1, 3, 192, 192]] * 3}

    sound = OnnxRuntimeSession(models_dir() / "sound-cnn-lstm.onnx")
    with pytest.raises(BuildError, match=r"input 'mfcc' has dynamic shape .* pass --shape mfcc="):
        input_profiles(sound, {})
    given = {"mfcc": [[1, 1, 40], [1, 99, 40], [1, 400, 40]]}
    assert input_profiles(sound, given) == given
    with pytest.raises(BuildError, match="unknown inputs"):
        input_profiles(sound, {**given, "audio": [[1]] * 3})


def test_int8_calibration_feeds_real_images_as_the_agent_prepares_them() -> None:
    shape = image_shape({"images": [[1, 3, 192, 192]] * 3})
    batches = [b.copy() for b in calibration_batches(IMAGES, shape, limit=3)]

    assert len(batches) == 3
    assert all(b.shape == (1, 3, 192, 192) and b.dtype == np.float32 for b in batches)
    assert min(b.min() for b in batches) >= 0.0 and max(b.max() for b in batches) <= 1.0
    assert not np.array_equal(batches[0], batches[1])  # one per image


def test_int8_needs_images_and_an_image_input(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="needs --calibration-images"):
        calibration_batches(None, [1, 3, 64, 64], 10)
    with pytest.raises(BuildError, match="no images"):
        calibration_batches(tmp_path, [1, 3, 64, 64], 10)
    with pytest.raises(BuildError, match="one \\[1, 3, h, w\\] input"):
        image_shape({"mfcc": [[1, 99, 40]] * 3})


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="TensorRT here")
def test_without_tensorrt_the_tool_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(models_dir() / "defects-yolov8n.onnx")]) == 2
    assert "cannot build engines here: python package 'tensorrt' is not installed" in (
        capsys.readouterr().err
    )
