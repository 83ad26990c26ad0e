"""Runs the real agent on N 1080p camera streams (plus the demo's other senses) and times it.

The agent is the one `edge-agent run` starts: sources reading real encoded files, the shipped
models through ONNX Runtime, fusion, the alarm lifecycle, the outbox and MQTT to a real broker
(127.0.0.1:1883, or an embedded one). Before and after the timed window the detector's own
session runs alone on the same preprocessed 1080p frame, so pipeline and bare-model throughput
come from the same process, backend and minute, and their ratio holds on a busy machine.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import os
import resource
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.apps.bench.bare import BareModel
from agent.apps.bench.options import BenchOptions
from agent.apps.bench.recorder import BenchRecorder
from agent.apps.bench.report import summarise
from agent.apps.bench.ultralytics_compare import Settings, compare
from agent.apps.bench.video import FPS, write_bench_video
from agent.apps.demo.broker import demo_broker
from agent.apps.demo.runner import demo_config, demo_template, start_simulators
from agent.inference.backends import runs_on_gpu
from agent.inference.batching import BatchingSession
from agent.observe import stages as observe
from agent.observe.gpu import gpu_memory_used_bytes
from agent.observe.process import ProcessUsage
from agent.runtime.agent import Agent
from agent.runtime.pipeline import DevicePipeline
from agent.senses.image.config import SENSE as IMAGE
from agent.senses.image.scorer import DetectorScorer
from agent.sinks.mqtt.retained import clear_retained

DEFAULT_BROKER = ("127.0.0.1", 1883)
WARMUP_S = 3.0  # models, sources and the broker link settle before timing starts
PEER_FRAMES = 150  # per round of the Ultralytics comparison
PEER_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class Usage:
    """Process CPU time and wall time at one instant."""

    cpu_s: float
    wall_s: float

    @staticmethod
    def now() -> Usage:
        """Read both clocks."""
        times = os.times()
        return Usage(times.user + times.system, time.perf_counter())


def bench_devices(
    template: dict[str, Any], options: BenchOptions, video: Path
) -> list[tuple[str, dict[str, Any]]]:
    """N (demo id, device) pairs cycling through the demo's devices, cameras on the bench video."""
    devices = []
    for index in range(options.streams):
        device = copy.deepcopy(template["devices"][index % len(template["devices"])])
        origin = device["id"]
        if options.streams > len(template["devices"]):
            device["id"] = f"{origin}-{index + 1}"
        camera = device["sources"]["camera"]
        camera.update(uri=str(video), fps=options.fps, frame_size=None)
        if options.max_batch is not None:
            camera["detector"]["max_batch"] = options.max_batch
        if options.camera_only:
            device["sources"] = {"camera": device["sources"]["camera"]}
        devices.append((origin, device))
    return devices


def detector_of(pipeline: DevicePipeline) -> DetectorScorer:
    """The camera's detector of a bench device (every bench device has a camera)."""
    scorer = pipeline.scorer(IMAGE)
    if not isinstance(scorer, DetectorScorer):
        raise TypeError(f"{pipeline.device}: the image scorer is a {type(scorer).__name__}")
    return scorer


async def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Bare model, agent for warm-up + duration, bare model again; return the report dict."""
    template = demo_template()
    host, port = options.broker or DEFAULT_BROKER
    async with demo_broker(host, port) as broker, contextlib.AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-bench-")))
        name = f"bench-{options.size[1]}p.mp4"
        video = await asyncio.to_thread(write_bench_video, workdir / name, options.size)
        devices = bench_devices(template, options, video)
        ports: dict[str, int] = {}
        if not options.camera_only:  # one simulated Modbus device per demo recording
            served = await start_simulators(stack, sorted({origin for origin, _ in devices}))
            ports = {device["id"]: served[origin] for origin, device in devices}
        data = {**template, "devices": [d for _, d in devices], "inspection": {"enabled": False}}
        prefix = f"bench-{uuid.uuid4().hex[:8]}"
        config = demo_config(data, broker, prefix, ports, workdir / "state")
        agent = Agent(config)
        detectors = [detector_of(p) for p in agent.pipelines]
        detector = detectors[0]
        bare = BareModel.of(detectors, video)
        # half before, half after: on a shared machine the load drifts, the bracket averages it
        half = options.model_s / 2
        model_runs = await asyncio.to_thread(bare.run, half)
        recorder = BenchRecorder()
        with observe.subscribed(recorder):
            window = await timed_window(agent, recorder, options.duration_s, detector.batches)
        model_runs += await asyncio.to_thread(bare.run, half)
        gpu_bytes = gpu_memory_used_bytes() if runs_on_gpu(detector.session.backend) else None
        peer = await asyncio.to_thread(compare_with_peer, options, detector, video)
        await clear_retained(broker.host, broker.port, f"{prefix}/#")  # a bench leaves nothing
    return (
        summarise(recorder, window, model_runs, bare, options, broker.embedded)
        | peer
        | {
            "video": {"size": list(options.size), "fps": FPS, "codec": "mp4v"},
            "rss_mb": round(ProcessUsage.now().rss_mb, 1),
            # device 0 as a whole (NVML or CUDA), after the run; None on the CPU
            "gpu_memory_mb": None if gpu_bytes is None else round(gpu_bytes / 2**20, 1),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "cpu_count": os.cpu_count(),
        }
    )


def compare_with_peer(
    options: BenchOptions, detector: DetectorScorer, video: Path
) -> dict[str, Any]:
    """Ultralytics' predictor against our detector path on the bench's own 1080p video.

    Both end to end (decode, preprocess, inference, postprocess) on the same ONNX file, in
    alternating rounds of this run; empty unless `--compare ultralytics` asked for it.
    """
    if options.compare != "ultralytics":
        return {}
    settings = Settings(frames=PEER_FRAMES, duration_s=options.model_s)
    result = compare(detector.config.detector.model, video, settings, rounds=PEER_ROUNDS)
    return {"vs_ultralytics": result["vs_ultralytics"], "ultralytics": result}


async def timed_window(
    agent: Agent, recorder: BenchRecorder, duration_s: float, batches: BatchingSession
) -> dict[str, float]:
    """Run the agent; record only between warm-up and the end; CPU use and the detector's mean
    batch size over that window."""
    stop = asyncio.Event()
    running = asyncio.create_task(agent.run(stop))
    try:
        await asyncio.sleep(WARMUP_S)
        start, runs, items = Usage.now(), batches.runs, batches.items
        recorder.recording = True
        await asyncio.sleep(duration_s)
        recorder.recording = False
        end, runs, items = Usage.now(), batches.runs - runs, batches.items - items
    finally:
        stop.set()
        await running
    wall = end.wall_s - start.wall_s
    return {
        "seconds": wall,
        "cpu_percent": 100.0 * (end.cpu_s - start.cpu_s) / wall,
        "batch_mean": items / runs if runs else 0.0,
    }


# the pipeline scores on asyncio's default executor, which runs at most this many threads
