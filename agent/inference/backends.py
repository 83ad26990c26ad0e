"""Which inference backend runs a model: the best available one the config allows.

Best first: native TensorRT (a `.engine` beside the ONNX file), ONNX Runtime with its TensorRT
execution provider (engine and timing cache on disk), ONNX Runtime on CUDA, then on the CPU.
`backend: auto` takes the first that opens; `tensorrt` demands the native engine;
`onnxruntime` takes the best ONNX Runtime provider. Each model's log line names the backend it
got and why the better ones were passed over.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from agent.config.base import Backend
from agent.inference import tensorrt
from agent.inference.engine_file import check_engine, engine_path_for
from agent.inference.session import (
    ONNXRUNTIME_MISSING,
    InferenceSession,
    ModelError,
    OnnxRuntimeSession,
)

try:
    import onnxruntime as ort
except ImportError:  # an extra's package: load_session names the fix before a candidate needs it
    ort = None

log = logging.getLogger(__name__)

ORT_TENSORRT = "TensorrtExecutionProvider"
ORT_CUDA = "CUDAExecutionProvider"
ORT_CPU = "CPUExecutionProvider"  # also runs what a GPU provider cannot
# Session.backend of each GPU backend: native TensorRT, and ORT ("onnxruntime/<provider>")
GPU_BACKENDS = frozenset(
    {tensorrt.TensorRTSession.backend, f"onnxruntime/{ORT_TENSORRT}", f"onnxruntime/{ORT_CUDA}"}
)


def runs_on_gpu(backend: str) -> bool:
    """Whether a session's `backend` runs on the GPU (metrics report GPU memory only then)."""
    return backend in GPU_BACKENDS


class BackendUnavailableError(ModelError):
    """The backend the config demands cannot run this model here."""


@dataclass(frozen=True, slots=True)
class Candidate:
    """A backend: why it cannot run here (None if it can), and how to open a model on it."""

    name: str
    unavailable: Callable[[Path], str | None]
    open: Callable[[Path], InferenceSession]


def _native_unavailable(path: Path) -> str | None:
    engine = engine_path_for(path)
    if not engine.is_file():
        return f"no engine {engine.name} beside the model (tools/build_engine.py builds one)"
    return tensorrt.missing_modules()


def _open_native(path: Path) -> InferenceSession:
    """The engine, checked against the ONNX file here only (one hash per open): a stale one
    raises EngineMismatchError, so `auto` falls back with the reason logged and a demanded
    `tensorrt` is an error."""
    engine = engine_path_for(path)
    return tensorrt.TensorRTSession(engine, path, check_engine(engine, path))


def _provider_unavailable(provider: str) -> Callable[[Path], str | None]:
    def unavailable(_: Path) -> str | None:
        if ort is None:
            return ONNXRUNTIME_MISSING
        available = ort.get_available_providers()
        if provider in available:
            return None
        return f"this onnxruntime build has no {provider} (has {', '.join(available)})"

    return unavailable


def ort_cache_dir() -> Path:
    """Where ORT's TensorRT provider keeps engines and timing caches between runs."""
    root = os.environ.get("EDGE_AGENT_CACHE") or Path.home() / ".cache" / "edge-agent"
    return Path(root) / "ort-tensorrt"


def _open_ort_tensorrt(path: Path) -> InferenceSession:
    cache = ort_cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    options = {
        "trt_fp16_enable": "True",
        "trt_engine_cache_enable": "True",
        "trt_engine_cache_path": str(cache),
        "trt_timing_cache_enable": "True",
        "trt_timing_cache_path": str(cache),
    }
    return OnnxRuntimeSession(path, ORT_TENSORRT, options, (ORT_CUDA, ORT_CPU))


NATIVE = Candidate("tensorrt", _native_unavailable, _open_native)
ORT_CANDIDATES = (
    Candidate("onnxruntime-tensorrt", _provider_unavailable(ORT_TENSORRT), _open_ort_tensorrt),
    Candidate(
        "onnxruntime-cuda",
        _provider_unavailable(ORT_CUDA),
        lambda path: OnnxRuntimeSession(path, ORT_CUDA, {}, (ORT_CPU,)),
    ),
)
CANDIDATES: dict[Backend, tuple[Candidate, ...]] = {
    "auto": (NATIVE, *ORT_CANDIDATES),
    "tensorrt": (NATIVE,),
    "onnxruntime": ORT_CANDIDATES,
}


def open_session(path: Path, backend: Backend, field_name: str) -> InferenceSession:
    """Open `path` on the first candidate of `backend` that works; CPU ORT is the last resort.

    A demanded `tensorrt` that cannot run is an error naming `field_name`, never a fallback.
    """
    passed_over: list[str] = []
    for candidate in CANDIDATES[backend]:
        try:
            reason = candidate.unavailable(path)
            if reason is None:
                session = candidate.open(path)
                _log_choice(path, session.backend, passed_over)
                return session
        except ModelError as exc:
            if backend == "tensorrt":
                raise BackendUnavailableError(f"{field_name}: tensorrt: {exc}") from exc
            reason = str(exc)
        passed_over.append(f"{candidate.name}: {reason}")
    if backend == "tensorrt":
        raise BackendUnavailableError(
            f"{field_name}: tensorrt was demanded but cannot run {path.name}: "
            + "; ".join(passed_over)
            + " (set it to auto or onnxruntime to fall back)"
        )
    session = OnnxRuntimeSession(path)
    _log_choice(path, session.backend, passed_over)
    return session


def _log_choice(path: Path, backend: str, passed_over: list[str]) -> None:
    because = f" (better ones unavailable: {'; '.join(passed_over)})" if passed_over else ""
    log.info("model %s runs on %s%s", path.name, backend, because)
