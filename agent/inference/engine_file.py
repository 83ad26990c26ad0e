"""TensorRT engine files and the JSON record beside each, tying an engine to its ONNX source.

An engine is compiled for one GPU and one TensorRT version from one ONNX file. The record
`<engine>.json` keeps the ONNX file's sha256, so the agent refuses an engine built from another
model (a retrained ONNX next to an old engine) instead of silently running stale weights. The
check is plain Python: it runs, and is tested, without TensorRT.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

from agent.inference.models import sha256_of
from agent.inference.session import ModelError

ENGINE_SUFFIX = ".engine"
REBUILD_HINT = "rebuild it with tools/build_engine.py (deploy/jetson/build_engines.sh)"


class EngineMismatchError(ModelError):
    """An engine that was not built from the ONNX file it sits beside."""


@dataclass(frozen=True, slots=True)
class EngineRecord:
    """What an engine was built from and how: written by tools/build_engine.py."""

    onnx_name: str
    onnx_sha256: str
    tensorrt_version: str
    precision: str  # fp32 | fp16 | int8
    input_profiles: dict[str, list[list[int]]]  # per input: [min, opt, max] shapes
    metadata: dict[str, str]  # the ONNX file's, since an engine keeps none (class names, imgsz)
    device_name: str
    built_at: str


def engine_path_for(onnx_path: Path) -> Path:
    """Where the engine of an ONNX model lives: beside it, same stem, `.engine`."""
    return onnx_path.with_suffix(ENGINE_SUFFIX)


def record_path_for(engine_path: Path) -> Path:
    """The JSON record beside an engine: `<engine>.json`."""
    return engine_path.with_name(engine_path.name + ".json")


def write_record(engine_path: Path, record: EngineRecord) -> Path:
    """Store the record beside the engine, after the engine itself was written."""
    path = record_path_for(engine_path)
    path.write_text(json.dumps(asdict(record), indent=2) + "\n")
    return path


def read_record(engine_path: Path) -> EngineRecord:
    """The engine's record; a missing or malformed one is an EngineMismatchError."""
    path = record_path_for(engine_path)
    if not path.is_file():
        raise EngineMismatchError(
            f"{engine_path}: no record {path.name} says which ONNX file it was built from; "
            + REBUILD_HINT
        )
    try:
        return EngineRecord(**json.loads(path.read_text()))
    except (json.JSONDecodeError, TypeError) as exc:
        raise EngineMismatchError(
            f"{path}: not a valid engine record ({exc}); {REBUILD_HINT}"
        ) from exc


def check_engine(engine_path: Path, onnx_path: Path) -> EngineRecord:
    """The record of an engine built from exactly this ONNX file, else EngineMismatchError."""
    record = read_record(engine_path)
    actual = sha256_of(onnx_path)
    if record.onnx_sha256 != actual:
        raise EngineMismatchError(
            f"{engine_path} was built from an ONNX file with sha256 {record.onnx_sha256[:12]}…, "
            f"but {onnx_path.name} has {actual[:12]}…; {REBUILD_HINT}"
        )
    return record
