"""The `edge-agent bench` subcommand: options, then the run, the table and the JSON."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agent.config.loader import ConfigError
from agent.inference.session import ModelError


def positive(kind: type[float] | type[int]) -> Any:
    """An argparse type for numbers above 0."""

    def parse(text: str) -> float | int:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    return parse


def frame_size(text: str) -> tuple[int, int]:
    """An argparse type for WIDTHxHEIGHT, both even (the MPEG-4 encoder needs even sizes)."""
    width, sep, height = text.lower().partition("x")
    if not (sep and width.isdigit() and height.isdigit()):
        raise argparse.ArgumentTypeError(f"expected WIDTHxHEIGHT, got {text!r}")
    size = int(width), int(height)
    if not all(16 <= d <= 7680 and d % 2 == 0 for d in size):
        raise argparse.ArgumentTypeError(f"each side must be even and 16-7680, got {text}")
    return size


BENCH_HELP = "Time the real pipeline on generated 1080p camera streams, stage by stage."


def add_bench_arguments(bench: argparse.ArgumentParser, broker_address: Any) -> None:
    """The options of `edge-agent bench` (its parser is made by the CLI, BENCH_HELP its text)."""
    bench.add_argument(
        "--duration",
        type=positive(float),
        default=20.0,
        help="seconds measured after a 3 s warm-up (default 20)",
    )
    bench.add_argument(
        "--streams",
        type=positive(int),
        default=1,
        help="simultaneous 1080p cameras, one device each (default 1)",
    )
    bench.add_argument(
        "--fps",
        type=positive(float),
        default=30.0,
        help="frames offered per stream per second (default 30: saturate)",
    )
    bench.add_argument(
        "--camera-only",
        action="store_true",
        help="devices with the camera alone (default: all four senses)",
    )
    bench.add_argument(
        "--model-seconds",
        type=positive(float),
        default=5.0,
        help="how long the bare model runs, half before and half after the pipeline (default 5)",
    )
    bench.add_argument(
        "--size",
        type=frame_size,
        help="the video's WIDTHxHEIGHT (default 1920x1080; smaller takes decode out of the way)",
    )
    bench.add_argument(
        "--max-batch",
        type=positive(int),
        help="the cameras' detector.max_batch (default: auto, 8 on a GPU, 1 on the CPU)",
    )
    bench.add_argument(
        "--compare",
        choices=["ultralytics"],
        help="also time Ultralytics' predictor on the same model and video (train extra)",
    )
    bench.add_argument("--broker", type=broker_address, help="HOST:PORT (default 127.0.0.1:1883)")
    bench.add_argument("--json", metavar="FILE|-", help="write the result as JSON ('-': stdout)")


def run_bench_command(args: argparse.Namespace) -> int:
    """Run the bench; print the table (or the JSON on '-') and write the JSON file."""
    from agent.apps.bench.options import BenchOptions
    from agent.apps.bench.report import render
    from agent.apps.bench.runner import run_bench  # loads the model stack
    from agent.apps.bench.ultralytics_compare import UltralyticsMissingError, require_ultralytics
    from agent.apps.bench.video import SIZE

    options = BenchOptions(
        duration_s=args.duration, streams=args.streams, fps=args.fps,
        camera_only=args.camera_only, broker=args.broker, model_s=args.model_seconds,
        compare=args.compare, max_batch=args.max_batch, size=args.size or SIZE,
    )  # fmt: skip
    try:
        if options.compare == "ultralytics":
            require_ultralytics()  # before minutes of benchmarking, not after
        result = asyncio.run(run_bench(options))
    except (ConfigError, ModelError, UltralyticsMissingError) as exc:
        print(f"bench cannot start: {exc}", file=sys.stderr)
        return 2
    encoded = json.dumps(result, indent=2)
    if args.json == "-":
        print(encoded)
        return 0
    print(render(result))
    if args.json:
        Path(args.json).write_text(encoded + "\n")
    return 0
