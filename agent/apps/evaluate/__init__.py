"""`edge-agent evaluate`: the shipped models' own ONNX path, scored on a user's labelled data.

Each kind lives in its own module exposing `evaluate(data: Path, model: Path) -> dict`, or,
for `baseline`, which learns from the data instead of loading a model,
`evaluate(data: Path, learn: str) -> dict`; the key names of that dict are a contract scripts
rely on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.apps.evaluate.datasets import DatasetError
from agent.inference.models import models_dir
from agent.inference.session import ModelError

# kind -> (module, shipped model file; None: the evaluator learns on the data)
EVALUATORS: dict[str, tuple[str, str | None]] = {
    "baseline": ("agent.apps.evaluate.baseline", None),
    "detector": ("agent.apps.evaluate.detector", "defects-yolov8n.onnx"),
    "sound": ("agent.apps.evaluate.sound", "sound-cnn-lstm.onnx"),
    "sensor": ("agent.apps.evaluate.sensor", "sensor-iforest.onnx"),
}


def evaluate(
    kind: str, data: Path, model: Path | None = None, learn: str = "0.1"
) -> dict[str, Any]:
    """Run the evaluator of `kind` with the given model, or the shipped one."""
    module_name, shipped = EVALUATORS[kind]
    if shipped is None and model is not None:
        raise DatasetError(f"evaluate {kind} learns on the data: --model does not apply")
    if shipped is not None:
        model = model if model is not None else models_dir() / shipped
        if not model.is_file():
            raise ModelError(f"{model}: no such model file")
    if not data.exists():
        raise DatasetError(f"{data}: no such file or folder")
    module = importlib.import_module(module_name)
    if model is None:  # the evaluator learns on the data
        learned: Callable[[Path, str], dict[str, Any]] = module.evaluate
        return learned(data, learn)
    run: Callable[[Path, Path], dict[str, Any]] = module.evaluate
    return run(data, model)
