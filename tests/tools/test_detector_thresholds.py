"""tools/detector_thresholds.py: defect-free patches and thresholds within the budget."""

from __future__ import annotations

import numpy as np
import pytest

from tools.detector_thresholds import SplitPeaks, choose_thresholds, development_split, fired
from tools.neu_patches import box_free_patch

SIZE = 200  # NEU-DET's images are 200x200


def random_boxes(rng: np.random.Generator) -> np.ndarray:
    """1-9 boxes with fractional corners, as YOLO labels give them in pixels."""
    count = int(rng.integers(1, 10))
    corners = rng.uniform(0, SIZE, (count, 2, 2))
    return np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)


def test_the_patch_never_overlaps_a_box() -> None:
    rng = np.random.default_rng(7)
    found = 0
    for _ in range(300):
        boxes = random_boxes(rng)
        patch = box_free_patch(boxes, SIZE, SIZE, 32)
        if patch is None:
            continue
        found += 1
        x1, y1, x2, y2 = patch
        assert x1 >= 0 and x2 - x1 >= 32 and x2 <= SIZE
        assert y1 >= 0 and y2 - y1 >= 32 and y2 <= SIZE
        overlap_w = np.minimum(boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1)
        overlap_h = np.minimum(boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1)
        assert np.all((overlap_w <= 0) | (overlap_h <= 0)), (boxes, patch)
    assert found > 100  # the check above ran on many layouts


def test_the_patch_is_the_largest_free_rectangle() -> None:
    left_strip = np.array([[10.5, 0.0, 60.2, 200.0]])
    assert box_free_patch(left_strip, SIZE, SIZE, 32) == (61, 0, 200, 200)
    centre = np.array([[50.0, 50.0, 150.0, 150.0]])
    assert box_free_patch(centre, SIZE, SIZE, 32) == (0, 0, 200, 50)
    assert box_free_patch(np.zeros((0, 4)), SIZE, SIZE, 32) == (0, 0, 200, 200)


def test_no_patch_when_boxes_leave_only_slivers() -> None:
    assert box_free_patch(np.array([[0.0, 0.0, 200.0, 200.0]]), SIZE, SIZE, 32) is None
    assert box_free_patch(np.array([[0.0, 0.0, 180.0, 200.0]]), SIZE, SIZE, 32) is None


@pytest.mark.parametrize("budget", [0.0, 0.05, 0.2])
def test_chosen_thresholds_keep_the_patches_within_budget(budget: float) -> None:
    rng = np.random.default_rng(8)
    images = rng.uniform(0.0, 1.0, (400, 3))
    labelled = np.eye(3, dtype=bool)[rng.integers(0, 3, 400)]
    images[labelled] += 0.5  # the labelled class tends to be the confident one
    dev = SplitPeaks(
        images=images.clip(0, 1),
        labelled=labelled,
        name_class=labelled.argmax(axis=1),
        patches=rng.uniform(0.0, 0.8, (300, 3)),
        patch_long_sides=np.full(300, SIZE),
    )

    thresholds = choose_thresholds(dev, budget, floor=0.25)

    assert fired(dev.patches, thresholds).mean() <= budget
    assert np.all(thresholds >= 0.25)
    if budget > 0:  # the budget was spent: some patch fires, so thresholds came down
        assert fired(dev.patches, thresholds).any()


def test_thresholds_are_chosen_on_what_the_model_never_trained_on() -> None:
    assert development_split({}) == "train"
    assert development_split({"background_patches": "640"}) == "train, patches kept back"
    both = {"background_patches": "427", "held_out_train_images": "350"}
    assert development_split(both) == "train, fold kept out of training"
