"""Build a TensorRT engine from an ONNX model, on the device that will run it.

FP32, FP16 or INT8 (calibrated on real sample images through the agent's own preprocessing,
the calibration cache kept for the next build); a workspace limit; a timing cache shared by
builds. Beside the engine goes `<engine>.json` (agent.inference.engine_file): the ONNX file's
sha256, TensorRT version, shapes and metadata; the agent refuses an engine whose record does
not match its ONNX file. Needs TensorRT 10+ and cuda-python (the `jetson` extra):

    python tools/build_engine.py models/defects-yolov8n.onnx --precision int8 \\
        --calibration-images /path/to/NEU-DET/images
"""

from __future__ import annotations

import argparse
import datetime
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import cv2
import numpy as np

from agent.inference.engine_file import EngineRecord, engine_path_for, write_record
from agent.inference.models import sha256_of
from agent.inference.session import OnnxRuntimeSession
from agent.inference.tensorrt import cuda_check, cudart_module_name, missing_modules
from agent.senses.image.preprocess import FramePreparer
from agent.senses.image.scorer import input_size

TIMING_CACHE = "tensorrt.timing-cache"  # shared by every build in a folder: faster rebuilds
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
Profile = list[list[int]]  # [min, opt, max] shapes of one input


class BuildError(Exception):
    """Why no engine could be built, worded for the person running the tool."""


def parse_shape(text: str) -> tuple[str, Profile]:
    """`name=1x3x192x192` (fixed) or `name=1x1x40/1x99x40/1x400x40` (min/opt/max)."""
    name, sep, shapes = text.partition("=")
    try:
        profile = [[int(d) for d in part.split("x")] for part in shapes.split("/")]
    except ValueError:
        profile = []
    if not sep or not name or len(profile) not in (1, 3) or any(d < 1 for s in profile for d in s):
        raise argparse.ArgumentTypeError(
            f"--shape {text!r}: expected NAME=1x3x192x192 or NAME=MIN/OPT/MAX, e.g. "
            "mfcc=1x1x40/1x99x40/1x400x40"
        )
    return name, profile * 3 if len(profile) == 1 else profile


def input_profiles(session: OnnxRuntimeSession, given: dict[str, Profile]) -> dict[str, Profile]:
    """A profile for every input: given on the command line, else its static shape, else (a
    detector) the square `imgsz` of its metadata; otherwise a BuildError naming the input."""
    profiles = {}
    for name, shape in zip(session.input_names, session.input_shapes, strict=True):
        if name in given:
            profiles[name] = given[name]
        elif all(isinstance(d, int) and d > 0 for d in shape):
            profiles[name] = [list(shape)] * 3
        elif "imgsz" in session.metadata:
            width, height = input_size(session)
            profiles[name] = [[1, 3, height, width]] * 3
        else:
            raise BuildError(f"input {name!r} has dynamic shape {shape}: pass --shape {name}=...")
    unknown = sorted(set(given) - set(session.input_names))
    if unknown:
        raise BuildError(f"--shape names unknown inputs {unknown}; inputs: {session.input_names}")
    return profiles


def image_shape(profiles: dict[str, Profile]) -> list[int]:
    """The [1, 3, h, w] input INT8 calibration feeds images to; only the detector has one."""
    shapes = [opt for _, opt, _ in profiles.values()]
    if len(shapes) != 1 or len(shapes[0]) != 4 or shapes[0][:2] != [1, 3]:
        raise BuildError(f"INT8 calibration feeds images to one [1, 3, h, w] input, not {shapes}")
    return shapes[0]


def calibration_batches(folder: Path | None, shape: list[int], limit: int) -> Iterator[np.ndarray]:
    """Real images as the agent feeds them to the detector: letterboxed [1, 3, h, w] float32.

    The folder is checked now, before a build starts; the images are read as TensorRT asks.
    """
    if folder is None:
        raise BuildError("--precision int8 needs --calibration-images (real sample images)")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)[:limit]
    if not paths:
        raise BuildError(f"no images ({', '.join(sorted(IMAGE_SUFFIXES))}) under {folder}")
    preparer = FramePreparer((shape[3], shape[2]))
    frames = (cv2.imread(str(path), cv2.IMREAD_COLOR) for path in paths)
    return (preparer.prepare(frame)[0] for frame in frames if frame is not None)


def _calibrator(
    trt: ModuleType, cudart: ModuleType, batches: Iterator[np.ndarray], cache: Path
) -> Any:
    """An entropy calibrator that feeds `batches` and keeps its table in `cache`."""

    class Calibrator(trt.IInt8EntropyCalibrator2):  # type: ignore[name-defined]
        def __init__(self) -> None:
            trt.IInt8EntropyCalibrator2.__init__(self)
            self.device: int | None = None

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names: list[str]) -> list[int] | None:
            batch = next(batches, None)
            if batch is None:
                return None
            if self.device is None:
                self.device = int(cuda_check(cudart.cudaMalloc(batch.nbytes)))
            kind = cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
            cuda_check(cudart.cudaMemcpy(self.device, batch.ctypes.data, batch.nbytes, kind))
            return [self.device]

        def read_calibration_cache(self) -> bytes | None:
            return cache.read_bytes() if cache.is_file() else None

        def write_calibration_cache(self, table: Any) -> None:
            cache.write_bytes(bytes(table))

    return Calibrator()


def build(args: argparse.Namespace) -> Path:
    """Parse, configure, build, write engine + record + caches; the engine's path."""
    reason = missing_modules()
    if reason:
        raise BuildError(f"cannot build engines here: {reason}")
    trt = importlib.import_module("tensorrt")
    cudart = importlib.import_module(cudart_module_name() or "cuda.bindings.runtime")
    session = OnnxRuntimeSession(args.onnx)
    profiles = input_profiles(session, dict(args.shape))
    engine_path = args.engine or engine_path_for(args.onnx)
    timing_cache = args.timing_cache or args.onnx.with_name(TIMING_CACHE)

    logger = trt.Logger(trt.Logger.INFO if args.verbose else trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)  # TensorRT 10: explicit batch is the only mode
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(args.onnx)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BuildError(
            f"TensorRT cannot import {args.onnx.name}: {errors} (operators such as ai.onnx.ml "
            "trees have no TensorRT importer: that model stays on ONNX Runtime, which "
            "backend: auto picks by itself)"
        )
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, args.workspace_mib << 20)
    profile = builder.create_optimization_profile()
    for name, (low, opt, high) in profiles.items():
        profile.set_shape(name, low, opt, high)
    config.add_optimization_profile(profile)
    if args.precision in ("fp16", "int8"):
        config.set_flag(trt.BuilderFlag.FP16)  # INT8 layers fall back to FP16, not FP32
    if args.precision == "int8":
        batches = calibration_batches(
            args.calibration_images, image_shape(profiles), args.calibration_count
        )
        cache = args.calibration_cache or engine_path.with_suffix(".calibration")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, cudart, batches, cache)
        config.set_calibration_profile(profile)
    timing_blob = timing_cache.read_bytes() if timing_cache.is_file() else b""
    config.set_timing_cache(config.create_timing_cache(timing_blob), False)

    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BuildError(f"TensorRT failed to build {args.onnx.name} (run with --verbose)")
    engine_path.write_bytes(bytes(serialized))
    timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    properties = cuda_check(cudart.cudaGetDeviceProperties(0))
    write_record(
        engine_path,
        EngineRecord(
            onnx_name=args.onnx.name,
            onnx_sha256=sha256_of(args.onnx),
            tensorrt_version=trt.__version__,
            precision=args.precision,
            input_profiles=profiles,
            metadata=session.metadata,
            device_name=bytes(properties.name).split(b"\0")[0].decode(),
            built_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        ),
    )
    return engine_path


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("onnx", type=Path)
    parser.add_argument("--engine", type=Path, help="default: beside the ONNX file, .engine")
    parser.add_argument("--precision", choices=("fp32", "fp16", "int8"), default="fp16")
    parser.add_argument("--shape", type=parse_shape, action="append", default=[])
    parser.add_argument("--workspace-mib", type=int, default=1024)
    parser.add_argument("--timing-cache", type=Path, help="default: beside the ONNX file")
    parser.add_argument("--calibration-images", type=Path)
    parser.add_argument("--calibration-count", type=int, default=500)
    parser.add_argument("--calibration-cache", type=Path, help="default: <engine stem>.calibration")
    parser.add_argument("--verbose", action="store_true")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    try:
        engine = build(args)
    except BuildError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"built {engine} ({engine.stat().st_size} bytes) and {engine.name}.json")
    return 0


if __name__ == "__main__":
    sys.exit(main())
