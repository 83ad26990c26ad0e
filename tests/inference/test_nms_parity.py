"""decode_yolov8 against Ultralytics' own NMS on raw outputs of the shipped detector.

The fixture (tools/record_nms_parity.py, run with the train extra) holds raw outputs of
models/defects-yolov8n.onnx on the fixture images and what
`ultralytics.utils.nms.non_max_suppression` kept from them; Ultralytics is not needed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.senses.image.scorer import decode_yolov8

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nms_parity.npz"
with np.load(FIXTURE) as recorded:
    CASES = {key: recorded[key] for key in recorded.files}
NAMES = [str(name) for name in CASES["setting_names"]]
IMAGES = sorted(int(key.split("_")[1]) for key in CASES if key.startswith("raw_"))


@pytest.mark.parametrize("image", IMAGES)
@pytest.mark.parametrize("setting", range(len(NAMES)), ids=NAMES)
def test_detections_match_ultralytics(image: int, setting: int) -> None:
    conf, iou, max_det = CASES["settings"][setting]
    raw = CASES[f"raw_{image}"]
    expected = CASES[f"{NAMES[setting]}_{image}"]
    nc = raw.shape[1] - 4

    found = decode_yolov8(raw, np.full(nc, conf, np.float32), float(iou), int(max_det))

    assert len(found.boxes) == len(expected)
    np.testing.assert_allclose(found.boxes, expected[:, :4], atol=1e-3)
    np.testing.assert_allclose(found.scores, expected[:, 4], atol=1e-6)
    assert found.class_ids.tolist() == expected[:, 5].astype(int).tolist()


def test_fixture_exercises_nms_for_real() -> None:
    """Some case must hand NMS many overlapping boxes, or parity would prove little."""
    most = max(len(CASES[f"{name}_{image}"]) for name in NAMES for image in IMAGES)
    assert most >= 50
