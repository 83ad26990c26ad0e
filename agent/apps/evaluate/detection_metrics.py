"""Detection metrics as Ultralytics computes them, in numpy, so our numbers compare with theirs.

Matching: per IoU threshold (0.50:0.05:0.95), greedy one-to-one by IoU between same-class
predictions and ground truth. AP: 101-point interpolation of the precision envelope, with the
(recall 1, precision 0) end point Ultralytics appends. Precision and recall are read at the
confidence that maximises the (smoothed) mean F1 over classes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

IOU_THRESHOLDS = np.linspace(0.5, 0.95, 10)
EPS = 1e-16


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in `a` [N, 4] with every box in `b` [M, 4] -> [N, M]."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(bottom_right - top_left, 0, None).prod(axis=2)
    area_a = (a[:, 2:] - a[:, :2]).prod(axis=1)
    area_b = (b[:, 2:] - b[:, :2]).prod(axis=1)
    return inter / (area_a[:, None] + area_b[None, :] - inter + EPS)


def match_predictions(
    pred_boxes: np.ndarray, pred_classes: np.ndarray, gt_boxes: np.ndarray, gt_classes: np.ndarray
) -> np.ndarray:
    """[N, 10] bool: prediction i is a true positive at IoU threshold j."""
    correct = np.zeros((len(pred_boxes), len(IOU_THRESHOLDS)), dtype=bool)
    if len(pred_boxes) == 0 or len(gt_boxes) == 0:
        return correct
    iou = box_iou(gt_boxes, pred_boxes) * (gt_classes[:, None] == pred_classes[None, :])
    for j, threshold in enumerate(IOU_THRESHOLDS):
        matches = np.argwhere(iou >= threshold)  # (gt, pred) pairs
        if len(matches) > 1:
            matches = matches[iou[matches[:, 0], matches[:, 1]].argsort()[::-1]]
            matches = matches[np.unique(matches[:, 1], return_index=True)[1]]
            matches = matches[np.unique(matches[:, 0], return_index=True)[1]]
        correct[matches[:, 1], j] = True
    return correct


def average_precision(recall: np.ndarray, precision: np.ndarray) -> float:
    """Area under the interpolated precision-recall curve (101 points)."""
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(np.concatenate(([1.0], precision, [0.0])))))
    grid = np.linspace(0, 1, 101)
    return float(np.trapezoid(np.interp(grid, mrec, mpre), grid))


def _smooth(y: np.ndarray, fraction: float = 0.1) -> np.ndarray:
    width = round(len(y) * fraction * 2) // 2 + 1
    pad = np.ones(width // 2)
    padded = np.concatenate((pad * y[0], y, pad * y[-1]))
    return np.convolve(padded, np.ones(width) / width, "valid")


@dataclass(frozen=True, slots=True)
class DetectionMetrics:
    """Dataset-level results; per-class AP50 for classes that have ground truth."""

    map50: float
    map50_95: float
    precision: float
    recall: float
    ap50_per_class: dict[int, float]


def detection_metrics(
    tp: np.ndarray, confidence: np.ndarray, pred_classes: np.ndarray, gt_classes: np.ndarray
) -> DetectionMetrics:
    """From every prediction's TP flags [N, 10], confidence and class, and all GT classes."""
    order = np.argsort(-confidence, kind="stable")
    tp, confidence, pred_classes = tp[order], confidence[order], pred_classes[order]
    classes, counts = np.unique(gt_classes, return_counts=True)
    grid = np.linspace(0, 1, 1000)
    ap = np.zeros((len(classes), len(IOU_THRESHOLDS)))
    p_curve, r_curve = np.zeros((len(classes), 1000)), np.zeros((len(classes), 1000))
    for k, (cls, n_gt) in enumerate(zip(classes, counts, strict=True)):
        mine = pred_classes == cls
        if not mine.any():
            continue
        tpc = tp[mine].cumsum(axis=0)
        fpc = (1 - tp[mine]).cumsum(axis=0)
        recall = tpc / (n_gt + EPS)
        precision = tpc / (tpc + fpc)
        r_curve[k] = np.interp(-grid, -confidence[mine], recall[:, 0], left=0)
        p_curve[k] = np.interp(-grid, -confidence[mine], precision[:, 0], left=1)
        ap[k] = [average_precision(recall[:, j], precision[:, j]) for j in range(tp.shape[1])]
    if len(classes) == 0:
        return DetectionMetrics(0.0, 0.0, 0.0, 0.0, {})
    f1 = 2 * p_curve * r_curve / (p_curve + r_curve + EPS)
    best = int(_smooth(f1.mean(axis=0)).argmax())
    return DetectionMetrics(
        map50=float(ap[:, 0].mean()),
        map50_95=float(ap.mean()),
        precision=float(p_curve[:, best].mean()),
        recall=float(r_curve[:, best].mean()),
        ap50_per_class={int(c): float(a) for c, a in zip(classes, ap[:, 0], strict=True)},
    )
