#!/usr/bin/env python3
"""Soak test: run the demo pipeline faster than real time and watch for unbounded growth.

Every `--every` seconds one CSV row records this process's RSS, open file descriptors and
threads (from /proc), its asyncio tasks, the C heaps' memory in use and free (glibc's
mallinfo2) and SQLite's own, the event loop's lag (p99 and max of a 50 ms probe over the
interval) and the alarm events: created (outbox sequence), delivered (PUBACKed), pending in
the outbox, and received back from the broker per kind. At the end a linear fit over the
second half of the run (the first half is warm-up: model arenas, caches) decides: a metric
whose slope and total rise both exceed its limit, by more than TREND_SIGMAS standard errors,
grows without bound, and the tool exits 1 naming it. RSS is judged per plant-hour (wall
time x `--speed`), at most `--max-rss-slope` MB. An agent that does not stop within
STOP_TIMEOUT_S when asked fails the soak too.

    tools/soak.py --duration 1800 --every 5 --csv soak.csv
    tools/soak.py --judge soak.csv        # summary and verdict of a CSV already written
    tools/soak.py --duration 600 --speed 4 --tracemalloc 2   # what Python allocates, growing
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import ctypes
import ctypes.util
import json
import os
import sys
import tempfile
import time
import tracemalloc
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agent.apps.demo.broker import demo_broker
from agent.apps.demo.runner import demo_config, demo_template, start_simulators, subscribe
from agent.observe.logs import configure_logging
from agent.observe.process import ProcessUsage, arena_usage, heap_usage
from agent.runtime.agent import Agent
from agent.sinks.mqtt.retained import clear_retained

PROBE_S = 0.05
STOP_TIMEOUT_S = 30.0
RATE_KEYS = {"camera": "fps", "infrared": "fps", "modbus": "poll_hz"}  # what --speed scales
COLUMNS = [
    "elapsed_s",
    "speed",
    "rss_mb",
    "fds",
    "threads",
    "tasks",
    "heap_used_mb",
    "heap_free_mb",
    "sqlite_mb",
    "arenas",
    "thread_arenas_mb",
    "loop_lag_p99_ms",
    "loop_lag_max_ms",
    "events_created",
    "events_delivered",
    "outbox_pending",
    "alarms_raised",
    "alarms_updated",
    "alarms_cleared",
]


@dataclass(frozen=True, slots=True)
class GrowthLimit:
    """A metric grows without bound when its fitted slope AND its fitted rise exceed these,
    and the slope is a trend, not noise (over TREND_SIGMAS standard errors of the fit).

    `per_hour` is per wall-clock hour, or per plant-hour when `plant` is set: an hour of the
    plant's time, which the soak plays `--speed` times faster, so that a leak per sample is
    judged the same at every speed.
    """

    per_hour: float
    min_rise: float
    plant: bool = False


RSS_MB_PER_PLANT_H = 0.5  # 0.5 MB per plant-hour is 360 MB over 30 days: the most we allow
LIMITS = {
    "rss_mb": GrowthLimit(per_hour=RSS_MB_PER_PLANT_H, min_rise=0.5, plant=True),
    "fds": GrowthLimit(per_hour=20.0, min_rise=5.0),
    "threads": GrowthLimit(per_hour=20.0, min_rise=5.0),
    "tasks": GrowthLimit(per_hour=20.0, min_rise=5.0),
    "loop_lag_p99_ms": GrowthLimit(per_hour=200.0, min_rise=50.0),
    "outbox_pending": GrowthLimit(per_hour=100.0, min_rise=20.0),
}
MIN_POINTS = 4
TREND_SIGMAS = 3.0


def limits_with(rss_mb_per_plant_h: float) -> dict[str, GrowthLimit]:
    """LIMITS with another RSS slope limit (MB per plant-hour)."""
    return LIMITS | {"rss_mb": GrowthLimit(rss_mb_per_plant_h, LIMITS["rss_mb"].min_rise, True)}


@dataclass(frozen=True, slots=True)
class Fit:
    """A least-squares line through a metric over the second half of a run."""

    slope: float  # per hour (wall or plant, as asked)
    stderr: float  # of the slope
    rise: float  # slope times the span fitted


def fit_second_half(rows: Sequence[dict[str, float]], name: str, plant: bool = False) -> Fit:
    """The metric's trend over the second half of the rows (the first half is warm-up)."""
    tail = rows[len(rows) // 2 :]
    hours = np.array([plant_hours(r) if plant else r["elapsed_s"] / 3600.0 for r in tail])
    values = np.array([r[name] for r in tail], dtype=np.float64)
    slope, intercept = np.polyfit(hours, values, 1)
    residuals = values - (slope * hours + intercept)
    spread = float(np.sum((hours - hours.mean()) ** 2))
    dof = max(1, len(tail) - 2)
    stderr = float(np.sqrt(np.sum(residuals**2) / dof / spread)) if spread > 0 else float("inf")
    return Fit(float(slope), stderr, float(slope) * float(hours[-1] - hours[0]))


def plant_hours(row: dict[str, float]) -> float:
    """The plant's time at a row: elapsed wall time times the speed it was played at."""
    return row["elapsed_s"] * row.get("speed", 1.0) / 3600.0


def growth_failures(
    rows: Sequence[dict[str, float]], limits: dict[str, GrowthLimit] = LIMITS
) -> list[str]:
    """Reasons the run failed: metrics that keep growing over the second half of the run."""
    tail = rows[len(rows) // 2 :]
    if len(tail) < MIN_POINTS:
        return [f"too few samples to judge ({len(tail)} in the second half, need {MIN_POINTS})"]
    failures = []
    for name, limit in limits.items():
        if name not in tail[0]:  # a CSV written before the soak recorded it
            continue
        fit = fit_second_half(rows, name, limit.plant)
        unit = "plant-h" if limit.plant else "h"
        trend = fit.slope > TREND_SIGMAS * fit.stderr
        if fit.slope > limit.per_hour and fit.rise > limit.min_rise and trend:
            failures.append(
                f"{name} grows {fit.slope:.{2 if limit.plant else 1}f}/{unit} "
                f"(±{fit.stderr:.2g}; +{fit.rise:.1f} over the second half; "
                f"limit {limit.per_hour}/{unit} and +{limit.min_rise})"
            )
    return failures


class NativeMemory:
    """Where RSS goes beyond Python's objects: glibc's heap (in use by anything: Python,
    numpy, ONNX Runtime, OpenCV, SQLite; and free but kept), SQLite's own allocations, and
    the arenas glibc made for threads (what they hold from the system).

    In use rising means something holds more; free rising at a flat in-use means fragmentation,
    in the threads' arenas when they grow. Zeros where glibc's mallinfo2 (2.33+), malloc_info or
    the shared libsqlite3 are not found.
    """

    def __init__(self) -> None:
        self._sqlite_used = None
        with contextlib.suppress(OSError):
            sqlite = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0")
            self._sqlite_used = sqlite.sqlite3_memory_used
            self._sqlite_used.restype = ctypes.c_int64

    def now(self) -> tuple[float, float, float, int, float]:
        """Heap in use and free, SQLite's memory (MB), glibc's arenas and what the threads'
        arenas hold from the system (MB)."""
        heap = heap_usage()
        used, free = (heap.used_mb, heap.free_mb) if heap is not None else (0.0, 0.0)
        sqlite = self._sqlite_used() / 2**20 if self._sqlite_used is not None else 0.0
        arenas = arena_usage()
        count, threads = (arenas.arenas, arenas.thread_arenas_mb) if arenas else (0, 0.0)
        return used, free, sqlite, count, threads


class LoopLagProbe:
    """Sleeps PROBE_S over and over; how late it wakes is how long the loop was busy."""

    def __init__(self) -> None:
        self.lags_ms: list[float] = []

    async def run(self) -> None:
        """Measure until cancelled."""
        while True:
            started = time.monotonic()
            await asyncio.sleep(PROBE_S)
            self.lags_ms.append(max(0.0, (time.monotonic() - started - PROBE_S) * 1000.0))

    def take(self) -> tuple[float, float]:
        """p99 and max since the last call."""
        lags, self.lags_ms = self.lags_ms or [0.0], []
        return float(np.percentile(lags, 99)), max(lags)


class AllocationWatch:
    """tracemalloc snapshots every `every_s`, each diffed against the first after warm-up.

    The first snapshot is taken `every_s` into the run (models loaded, caches warm); each later
    one prints, to stderr, the allocation sites that grew most since it and since the previous
    one. Only Python's allocator is traced (numpy's buffers included; ONNX Runtime's and
    SQLite's own memory not), so a growth in RSS that the traced total does not show lies there.
    """

    def __init__(self, every_s: float, top: int = 15, frames: int = 8) -> None:
        self.every_s, self.top, self.frames = every_s, top, frames
        self.baseline: tracemalloc.Snapshot | None = None
        self.previous: tracemalloc.Snapshot | None = None

    def take(self, elapsed: float) -> None:
        """One snapshot; print what grew since the baseline and the previous snapshot."""
        snapshot = tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )
        traced_mb = tracemalloc.get_traced_memory()[0] / 2**20
        if self.baseline is None or self.previous is None:
            self.baseline = self.previous = snapshot
            print(f"[tracemalloc {elapsed:.0f} s] baseline, traced {traced_mb:.1f} MB",
                  file=sys.stderr, flush=True)  # fmt: skip
            return
        lines = [f"[tracemalloc {elapsed:.0f} s] traced {traced_mb:.1f} MB"]
        for label, since in (("since baseline", self.baseline), ("since previous", self.previous)):
            stats = snapshot.compare_to(since, "traceback")
            growing = sorted(stats, key=lambda s: s.size_diff, reverse=True)[: self.top]
            lines.append(f"  top growth {label}:")
            for stat in growing:
                if stat.size_diff <= 0:
                    break
                where = " <- ".join(  # the allocating line first, then its callers
                    f"{Path(f.filename).name}:{f.lineno}" for f in reversed(stat.traceback)
                )
                lines.append(f"    {stat.size_diff / 1024:+9.1f} KiB {stat.count_diff:+7d} blocks  "
                             f"{where}")  # fmt: skip
        self.previous = snapshot
        print("\n".join(lines), file=sys.stderr, flush=True)

    async def run(self, started: float) -> None:
        """Snapshot until cancelled."""
        tracemalloc.start(self.frames)
        try:
            while True:
                await asyncio.sleep(self.every_s)
                self.take(time.monotonic() - started)
        finally:
            tracemalloc.stop()


class AlarmCounter:
    """Counts alarm events as subscribers receive them, by kind (raised/updated/cleared)."""

    def __init__(self) -> None:
        self.events: Counter[str] = Counter()

    def on_message(self, topic: str, payload: bytes) -> None:
        """Called by the demo's subscriber for every message under the site."""
        if topic.endswith("/alarm"):
            with contextlib.suppress(ValueError, AttributeError):
                self.events[str(json.loads(payload).get("event"))] += 1


def sample_row(
    elapsed: float,
    speed: float,
    agent: Agent,
    probe: LoopLagProbe,
    alarms: AlarmCounter,
    native: NativeMemory,
) -> dict:
    """One CSV row of measurements."""
    usage = ProcessUsage.now()
    heap_used, heap_free, sqlite, arenas, thread_arenas = native.now()
    lag_p99, lag_max = probe.take()
    return {
        "elapsed_s": round(elapsed, 1),
        "speed": speed,
        "rss_mb": round(usage.rss_mb, 1),
        "fds": usage.fds,
        "threads": usage.threads,
        "tasks": len(asyncio.all_tasks()),
        "heap_used_mb": round(heap_used, 2),
        "heap_free_mb": round(heap_free, 2),
        "sqlite_mb": round(sqlite, 3),
        "arenas": arenas,
        "thread_arenas_mb": round(thread_arenas, 2),
        "loop_lag_p99_ms": round(lag_p99, 1),
        "loop_lag_max_ms": round(lag_max, 1),
        "events_created": agent.outbox.last_seq(),
        "events_delivered": agent.publisher.delivered,
        "outbox_pending": len(agent.outbox),
        "alarms_raised": alarms.events["raised"],
        "alarms_updated": alarms.events["updated"],
        "alarms_cleared": alarms.events["cleared"],
    }


def accelerated(template: dict, speed: float) -> dict:
    """The demo devices with every source polled `speed` times faster."""
    for device in template["devices"]:
        for kind, rate in RATE_KEYS.items():
            if kind in device["sources"]:
                device["sources"][kind][rate] *= speed
    return template


async def stop_agent(running: asyncio.Task[None], stop: asyncio.Event) -> list[str]:
    """Ask the agent to stop; a problem when it has not within STOP_TIMEOUT_S."""
    stop.set()
    try:
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await asyncio.shield(running)
    except TimeoutError:
        stuck = sorted(t.get_name() for t in asyncio.all_tasks() if t.cancelling())
        return [f"the agent did not stop within {STOP_TIMEOUT_S:.0f} s; stuck: {', '.join(stuck)}"]
    return []


async def soak(args: argparse.Namespace) -> None:
    """Run the demo agent for the duration, writing one row every `args.every` seconds.

    The rows go to the CSV only, read back for the verdict: the soak itself holds nothing that
    grows with the run's length, so every byte RSS gains is the agent's (or the simulators').
    """
    template = accelerated(demo_template(), args.speed)
    prefix = args.prefix or f"soak-{uuid.uuid4().hex[:8]}"
    async with (
        demo_broker(args.broker_host, args.broker_port) as broker,
        contextlib.AsyncExitStack() as stack,
    ):
        devices = [d["id"] for d in template["devices"]]
        ports = await start_simulators(stack, devices, rows_per_s=20.0 * args.speed)
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-soak-")))
        agent = Agent(demo_config(template, broker, prefix, ports, state_dir))
        alarms, probe, native = AlarmCounter(), LoopLagProbe(), NativeMemory()
        helpers = [
            asyncio.create_task(subscribe(broker, f"{prefix}/+/+/alarm", alarms)),
            asyncio.create_task(probe.run()),
        ]
        if args.tracemalloc:
            watch = AllocationWatch(args.tracemalloc * 60.0)
            helpers.append(asyncio.create_task(watch.run(time.monotonic())))
        stop = asyncio.Event()
        running = asyncio.create_task(agent.run(stop))
        out = stack.enter_context(args.csv.open("w", newline=""))
        writer = csv.DictWriter(out, COLUMNS)
        writer.writeheader()
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < args.duration:
            await asyncio.sleep(min(args.every, args.duration - elapsed))
            row = sample_row(time.monotonic() - started, args.speed, agent, probe, alarms, native)
            writer.writerow(row)
            out.flush()
        problems = await stop_agent(running, stop)
        if problems:  # a stuck task would hang every cleanup below, and asyncio.run's too
            print("exiting without cleanup: the agent is stuck", file=sys.stderr)
            sys.stdout.flush()
            os._exit(report(read_rows(args.csv, args.speed), problems, judged(args)))
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        if not args.prefix:  # its own random prefix: leave nothing retained behind
            await clear_retained(broker.host, broker.port, f"{prefix}/#")


def signed(value: float) -> str:
    """+1.23 or -1.23, and +0.00 for what rounds to zero from below."""
    return f"{round(value, 2) + 0.0:+.2f}"


def summary(rows: Sequence[dict]) -> str:
    """First and last values of what matters, for a report."""
    first, last = rows[0], rows[-1]
    lags = sorted(r["loop_lag_p99_ms"] for r in rows)
    rss = "rss_mb slope over the second half: too few samples"
    if len(rows) // 2 >= 2:
        per_plant_h = fit_second_half(rows, "rss_mb", plant=True)
        per_h = fit_second_half(rows, "rss_mb")
        rss = (
            f"rss_mb slope over the second half: {signed(per_plant_h.slope)} "
            f"(±{per_plant_h.stderr:.2f}) MB per plant-hour, {signed(per_h.slope)} MB per wall-hour"
        )
    return (
        f"duration {last['elapsed_s']:.0f} s at speed {last['speed']:g}: "
        f"{plant_hours(last):.2f} plant-hours, {len(rows)} samples\n"
        f"{rss}\n"
        f"rss_mb {first['rss_mb']:g} -> {last['rss_mb']:g}, "
        f"fds {first['fds']:g} -> {last['fds']:g}, "
        f"threads {first['threads']:g} -> {last['threads']:g}\n"
        f"loop lag p99 per interval: median {lags[len(lags) // 2]:g} ms, worst {lags[-1]:g} ms; "
        f"max single lag {max(r['loop_lag_max_ms'] for r in rows):g} ms\n"
        f"alarm events created {last['events_created']:g}, delivered {last['events_delivered']:g}, "
        f"pending {last['outbox_pending']:g}; received raised {last['alarms_raised']:g}, "
        f"updated {last['alarms_updated']:g}, cleared {last['alarms_cleared']:g}"
    )


def report(
    rows: Sequence[dict], problems: Sequence[str] = (), limits: dict[str, GrowthLimit] = LIMITS
) -> int:
    """Print the summary and the verdict; the exit code: 1 when anything failed."""
    print(summary(rows))
    failures = [*growth_failures(rows, limits), *problems]
    if failures:
        print("verdict: FAIL\n" + "\n".join(f"  {f}" for f in failures))
        return 1
    print("verdict: PASS (nothing grows over the second half)")
    return 0


def read_rows(path: Path, speed: float) -> list[dict]:
    """The rows of a soak CSV, as numbers; `speed` where the CSV does not record it."""
    with path.open(newline="") as f:
        return [
            {"speed": speed} | {k: float(v) for k, v in row.items()} for row in csv.DictReader(f)
        ]


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="seconds (default 1800)")
    parser.add_argument("--every", type=float, default=5.0, help="seconds per CSV row (default 5)")
    parser.add_argument("--csv", type=Path, default=Path("soak.csv"), help="output CSV file")
    parser.add_argument("--speed", type=float, default=2.0, help="source rate x (default 2)")
    parser.add_argument(
        "--max-rss-slope",
        type=float,
        default=RSS_MB_PER_PLANT_H,
        metavar="MB",
        help=f"fail when RSS grows faster than MB per plant-hour over the second half "
        f"(default {RSS_MB_PER_PLANT_H})",
    )
    parser.add_argument("--broker-host", default="127.0.0.1")
    parser.add_argument("--broker-port", type=int, default=1883)
    parser.add_argument("--prefix", help="MQTT topic prefix (default: soak-<random>)")
    parser.add_argument(
        "--tracemalloc",
        type=float,
        metavar="MINUTES",
        help="trace Python allocations; every MINUTES print (stderr) the sites that grew most "
        "since the first snapshot and since the previous one",
    )
    parser.add_argument("--judge", type=Path, help="judge an existing soak CSV instead of running")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the soak; exit 1 with the reasons when something grows without bound."""
    args = build_parser().parse_args(argv)
    if args.duration <= 0 or args.every <= 0 or args.speed <= 0:
        print("--duration, --every and --speed must be positive", file=sys.stderr)
        return 2
    if args.judge:
        return report(read_rows(args.judge, args.speed), limits=judged(args))
    configure_logging("warning")
    asyncio.run(soak(args))
    return report(read_rows(args.csv, args.speed), limits=judged(args))


def judged(args: argparse.Namespace) -> dict[str, GrowthLimit]:
    """The limits the command line asks for."""
    return limits_with(args.max_rss_slope)


if __name__ == "__main__":
    sys.exit(main())
