"""`edge-agent evaluate`: the shipped models' own ONNX path, scored on a user's labelled data.

Each kind lives in its own module exposing `evaluate(data: Path, model: Path) -> dict`; for
`baseline`, which learns from the data instead of loading a model,
`evaluate(data: Path, learn: str, plots: Path | None) -> dict`; for `episodes`, which runs
every sense through the agent with the shipped models, `evaluate(data: Path, fusion: Path |
None, grace_s: float, jobs: int, plots: Path | None) -> dict`. The key names of that dict
are a contract scripts rely on.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.apps.evaluate.datasets import DatasetError
from agent.inference.models import models_dir
from agent.inference.session import ModelError

# sense -> its shipped model file in models/ (the temperature sense is a rule)
SHIPPED_MODELS = {
    "image": "defects-yolov8n.onnx",
    "audio": "sound-cnn-lstm.onnx",
    "sensor": "sensor-iforest.onnx",
}
EPISODES = "episodes"  # the kind that replays recorded episodes through the whole agent
BASELINE = "baseline"  # the kind that learns each run's healthy start
DEFAULT_LEARN = "0.1"  # baseline: each run learns on its first tenth
DEFAULT_GRACE_S = 60.0  # episodes: an alarm this long after a fault ends still detects it
# kind -> (module, shipped model file; None: the evaluator learns on the data or, for
# episodes, uses every sense's shipped model)
EVALUATORS: dict[str, tuple[str, str | None]] = {
    BASELINE: ("agent.apps.evaluate.baseline", None),
    "detector": ("agent.apps.evaluate.detector", SHIPPED_MODELS["image"]),
    EPISODES: ("agent.apps.evaluate.episodes", None),
    "sound": ("agent.apps.evaluate.sound", SHIPPED_MODELS["audio"]),
    "sensor": ("agent.apps.evaluate.sensor", SHIPPED_MODELS["sensor"]),
}


def evaluate(
    kind: str,
    data: Path,
    model: Path | None = None,
    learn: str | None = None,
    fusion: Path | None = None,
    grace_s: float | None = None,
    jobs: int | None = None,
    plots: Path | None = None,
) -> dict[str, Any]:
    """Run the evaluator of `kind` with the given model, or the shipped one."""
    module_name, shipped = EVALUATORS[kind]
    if shipped is None and model is not None:
        raise DatasetError(f"evaluate {kind} uses no --model: it learns or uses the shipped ones")
    if kind != EPISODES and any(option is not None for option in (fusion, grace_s, jobs)):
        raise DatasetError(f"--fusion, --grace and --jobs apply to evaluate {EPISODES} only")
    if kind not in (EPISODES, BASELINE) and plots is not None:
        raise DatasetError(f"--plots applies to evaluate {EPISODES} and {BASELINE} only")
    if kind != BASELINE and learn is not None:
        raise DatasetError(f"--learn applies to evaluate {BASELINE} only")
    if shipped is not None:
        model = model if model is not None else models_dir() / shipped
        if not model.is_file():
            raise ModelError(f"{model}: no such model file")
    if not data.exists():
        raise DatasetError(f"{data}: no such file or folder")
    if plots is not None:  # before hours of replay, not after
        try:
            plots.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatasetError(f"--plots {plots}: cannot write pictures there ({exc})") from exc
    module = importlib.import_module(module_name)
    if kind == EPISODES:
        replayed: Callable[..., dict[str, Any]] = module.evaluate
        grace = DEFAULT_GRACE_S if grace_s is None else grace_s
        return replayed(data, fusion, grace, jobs=1 if jobs is None else jobs, plots=plots)
    if model is None:  # the evaluator learns on the data
        learned: Callable[..., dict[str, Any]] = module.evaluate
        return learned(data, DEFAULT_LEARN if learn is None else learn, plots=plots)
    run: Callable[[Path, Path], dict[str, Any]] = module.evaluate
    return run(data, model)
