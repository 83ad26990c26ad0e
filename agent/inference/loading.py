"""Open a model file: check it against its MANIFEST, then hand it to the best backend allowed."""

from __future__ import annotations

from pathlib import Path

from agent.config.base import Backend
from agent.inference.backends import open_session
from agent.inference.models import read_manifest, sha256_of
from agent.inference.session import InferenceSession, ModelError, require_onnxruntime


def verify_against_manifest(path: Path) -> None:
    """Refuse a model that a MANIFEST beside it lists with another sha256 (corrupt or swapped)."""
    try:
        entry = read_manifest(path.parent).get(path.name)
    except ValueError as exc:
        raise ModelError(str(exc)) from exc
    if entry is None:
        return
    actual = sha256_of(path)
    if actual != entry.sha256:
        raise ModelError(
            f"{path}: sha256 {actual[:12]}… does not match MANIFEST ({entry.sha256[:12]}…); "
            "the file is corrupt or was replaced"
        )


def load_session(
    path: Path, backend: Backend = "auto", field_name: str = "backend"
) -> InferenceSession:
    """The session for a model file on the best backend allowed (see agent.inference.backends).

    `field_name` is the config field that chose `backend`, named in the error when it cannot
    be honoured. Every backend but a demanded native `tensorrt` needs ONNX Runtime (at least
    as the CPU fallback), so its absence is one clear error here, before anything opens.
    """
    if backend != "tensorrt":
        require_onnxruntime()
    verify_against_manifest(path)
    return open_session(path, backend, field_name)
