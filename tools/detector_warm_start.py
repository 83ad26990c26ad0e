"""Rebuild a trainable YOLOv8 checkpoint from a detector ONNX file this project exported.

The shipped ONNX file is the only copy of the detector's weights (checkpoints are not kept).
Ultralytics exports with every batch norm folded into the convolution before it, so the ONNX
file holds, per block, a convolution with a bias. To train on from it, each block gets its
batch norm back as a calibrated identity: its running statistics are those of the
convolution's output on real training images, and its scale and shift undo them
(gamma = sqrt(var + eps), beta = folded bias + mean). In eval mode the rebuilt model computes
exactly what the ONNX file computes; in train mode, on batches like the calibration images,
almost the same, so training continues from the shipped model instead of from scratch.

Needs the `train` extra (torch, ultralytics). Used by `tools/train_detector.py --init`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

CALIBRATION_IMAGES = 64  # train images whose convolution outputs set the restored statistics


def onnx_weights(path: Path) -> dict[str, np.ndarray]:
    """The named weight tensors of an exported detector (constants of the graph left out)."""
    model = onnx.load(str(path))
    return {
        tensor.name: numpy_helper.to_array(tensor)
        for tensor in model.graph.initializer
        if tensor.name.startswith("model.")
    }


def rebuild(onnx_path: Path, yaml_cfg: str, classes: int, images: list[np.ndarray]) -> Any:
    """A `DetectionModel` whose eval-mode output equals the ONNX file's on any input.

    `images` are RGB float arrays [3, H, W] in [0, 1] at the network's input size, used to
    calibrate the restored batch norms.
    """
    import torch
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    weights = onnx_weights(onnx_path)
    model = DetectionModel(yaml_cfg, nc=classes, verbose=False)
    state = model.state_dict()
    used = set()
    blocks = {name: module for name, module in model.named_modules() if isinstance(module, Conv)}
    for name, block in blocks.items():
        weight, bias = weights[f"{name}.conv.weight"], weights[f"{name}.conv.bias"]
        expected = tuple(block.conv.weight.shape)
        if expected != weight.shape:
            raise ValueError(f"{name}: ONNX shape {weight.shape}, model shape {expected}")
        with torch.no_grad():
            block.conv.weight.copy_(torch.from_numpy(weight.copy()))
            block.bn.weight.fill_(1.0)
            block.bn.bias.copy_(torch.from_numpy(bias.copy()))
            block.bn.running_mean.zero_()
            block.bn.running_var.fill_(1.0 - block.bn.eps)
        used.update({f"{name}.conv.weight", f"{name}.conv.bias"})
    for key in state:  # the head's last convolutions keep their own bias and have no norm
        if key in weights and key not in used:
            with torch.no_grad():
                state[key].copy_(torch.from_numpy(weights[key].copy()))
            used.add(key)
    missing = set(weights) - used
    if missing:
        raise ValueError(f"ONNX weights not placed: {sorted(missing)[:5]}")
    calibrate(model, blocks, images)
    return model


def calibrate(model: Any, blocks: dict[str, Any], images: list[np.ndarray]) -> None:
    """Give each identity batch norm the statistics of its convolution's output on `images`."""
    import torch

    sums: dict[str, list[torch.Tensor]] = {}

    def recorder(name: str) -> Any:
        def hook(_module: Any, inputs: tuple[torch.Tensor, ...]) -> None:
            out = inputs[0].double()
            sums.setdefault(name, []).append(
                torch.stack([out.mean((0, 2, 3)), (out**2).mean((0, 2, 3))])
            )

        return hook

    handles = [block.bn.register_forward_pre_hook(recorder(n)) for n, block in blocks.items()]
    model.eval()
    with torch.no_grad():
        for image in images:
            model(torch.from_numpy(image)[None].float())
    for handle in handles:
        handle.remove()
    with torch.no_grad():
        for name, block in blocks.items():
            first, second = torch.stack(sums[name]).mean(0)
            mean, var = first, (second - first**2).clamp_min(1e-6)
            bn = block.bn
            bn.running_mean.copy_(mean.float())
            bn.running_var.copy_(var.float())
            bn.weight.copy_(torch.sqrt(var + bn.eps).float())
            bn.bias.add_(mean.float())
