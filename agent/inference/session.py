"""One small inference-session interface; agent.inference.backends picks the implementation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

import numpy as np

from agent.inference.models import sha256_of
from agent.observe.stages import Stage, timed


class ModelError(Exception):
    """A model file that cannot be loaded or does not fit what its scorer expects."""


ONNXRUNTIME_MISSING = (
    "onnxruntime is not installed: pip install 'edge-inspection-agent[cpu]' "
    "(or [gpu], or see deploy/jetson/README.md on a Jetson)"
)


def require_onnxruntime() -> ModuleType:
    """The `onnxruntime` module, or a ModelError naming the install that provides it.

    No base dependency brings it: the `cpu` or `gpu` extra does, or on a Jetson NVIDIA's wheel
    (two of them in one environment break each other, so the choice is the installer's).
    """
    try:
        import onnxruntime  # an extra's package: checked where sessions open
    except ImportError:
        raise ModelError(ONNXRUNTIME_MISSING) from None
    return onnxruntime


class InferenceSession(Protocol):
    """Run a model on named numpy inputs; metadata is the ONNX file's key/value props."""

    input_names: list[str]
    output_names: list[str]
    metadata: dict[str, str]
    version: str
    backend: str  # what runs it, for metrics and bench: "onnxruntime/CPUExecutionProvider"
    input_shapes: list[list[Any]]
    max_batch: int | None  # the most items one run takes on the first input's axis 0; None: any

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


@dataclass
class OnnxRuntimeSession:
    """ONNX Runtime with one execution provider (CPU unless a GPU one is asked for)."""

    path: Path
    provider: str = "CPUExecutionProvider"
    provider_options: dict[str, str] = field(default_factory=dict)
    fallbacks: tuple[str, ...] = ()  # providers for the operators `provider` cannot run

    def __post_init__(self) -> None:
        ort = require_onnxruntime()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        # ORT's intra-op threads spin after each run by default; on a small CPU shared with
        # decode and three other models the spinning starved them (docs/performance.md)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list[Any] = [(self.provider, self.provider_options), *self.fallbacks]
        try:
            self._session = ort.InferenceSession(
                str(self.path), sess_options=options, providers=providers
            )
        except Exception as exc:  # ORT raises its own untyped errors
            raise ModelError(f"cannot load model {self.path}: {exc}") from exc
        if self.provider not in self._session.get_providers():
            raise ModelError(
                f"ONNX Runtime could not start {self.provider} (its CUDA/TensorRT libraries "
                "are missing or no GPU is visible)"
            )
        self.input_names = [i.name for i in self._session.get_inputs()]
        self.output_names = [o.name for o in self._session.get_outputs()]
        meta = self._session.get_modelmeta()
        self.metadata = dict(meta.custom_metadata_map)
        self.version = model_version(self.path, self.metadata)
        self.input_shapes = [list(i.shape) for i in self._session.get_inputs()]
        batch = self.input_shapes[0][0] if self.input_shapes and self.input_shapes[0] else None
        self.max_batch = batch if isinstance(batch, int) and batch > 0 else None
        self.backend = f"onnxruntime/{self._session.get_providers()[0]}"

    def run(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """Run once; outputs in the model's declared order."""
        with timed(Stage.INFERENCE, self.version, self.backend):
            return list(self._session.run(None, inputs))


def model_version(path: Path, metadata: dict[str, str]) -> str:
    """'name@version' from metadata, else the file's stem and the first 12 hex of its sha256."""
    name = metadata.get("name") or path.stem
    version = metadata.get("version") or sha256_of(path)[:12]
    return f"{name}@{version}"
