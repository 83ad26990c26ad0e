"""Build a development set of multimodal episodes (docs/episodes.md) from ../shared/data.

    python -m tools.make_episodes --data ../shared/data --out DIR [--count 200] [--seed S]

Writes DIR/dev/<episode>/ and DIR/test/<episode>/ (episode.yaml, index CSVs, sensor.csv),
DIR/pool/<split>/ (every frame and clip once, referenced as ../../pool/...) and DIR/episodes.json.
The test split (TEST_SHARE of the episodes) draws only on recordings the dev split never uses,
and only on ones the shipped models never trained on (tools/episode_sources.py). Seeded: the
same data, count and seed give byte-identical output. docs/episodes-dataset.md describes it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tools.episode_pool import CENTI_KELVIN, THERMAL_NOISE_FIELDS, Pool, Scene
from tools.episode_sources import (
    BEARING_FAULTS,
    NEU_SPLIT,
    REGISTERS,
    SKAB_SESSIONS,
    SPLITS,
    UESTC_RPM,
    Anomaly,
    Sources,
    load,
)

SENSES = ("image", "thermal", "audio", "sensor")
TEST_SHARE = 0.3
# one cycle of episode kinds; the k-th episode of a split has kind KIND_CYCLE[k % 10]
KIND_CYCLE = (
    "healthy",
    "single",
    "double",
    "growing",
    "noisy",
    "single",
    "triple",
    "dropout",
    "growing",
    "dropout-fault",
)
GROWING_SENSES = (
    ("audio",),
    ("thermal",),
    ("image",),
    ("sensor",),
    ("thermal", "audio"),
    ("thermal", "audio", "sensor"),
)
DURATIONS_S = (1800, 2700, 3600, 5400, 7200)
LEARN_S = ((0, 0.15), (600, 0.4), (900, 0.25), (1200, 0.2))  # (seconds, probability)
LEARN_STEP_S = 2  # while learning: 300 frames or clips in 600 s, what the learners need
STEP_S = {"image": 10, "thermal": 10, "audio": 5}  # afterwards: sparse, to keep disk small
SETTLE_S = 300  # no fault in the first minutes after learning
MIN_FAULT_S = 600
MIN_GROWING_S = 1200
GAP_S = (120, 900)  # a stream's dropout: 2-15 min
GAP_CLEAR_S = 60  # a sense's dropout stays this far from its own fault
SUDDEN_RISE_S = 120  # a sudden hot spot reaches its peak in two minutes
SPOT_C = (15.0, 40.0)  # a faulty bearing's excess over the housing at full heat
MIX_SHARES = tuple(float(s) for s in np.geomspace(0.03, 1.0, 8))  # subtle -> grown audio
MIX_PAIRS = 6  # healthy/fault clip pairs per speed and class that growing faults mix
NOISY_S = (600, 1800)
NOISY_IMAGE_GAIN = 0.7  # a lamp dims
NOISY_LOAD_C = 4.0  # the housing runs warmer under a higher load
NOISY_AMBIENT_C = 3.0  # the hall warms during the episode
NOISY_GAIN_DB = 6.0  # the vibration sensor remounted, or a louder process nearby
QUIET_AMBIENT_C = 0.5


@dataclass(frozen=True, slots=True)
class Device:
    """A machine: its SKAB session, shaft speed and thermal scene stay fixed across episodes."""

    name: str
    session: str
    rpm: int
    scene: Scene


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault event: every sense in `senses` shows it from start_s to end_s."""

    start_s: int
    end_s: int
    type: str
    senses: tuple[str, ...]
    growing: bool
    audio_class: str
    image_class: str
    spot_c: float
    anomaly: Anomaly | None

    def progress(self, sense: str, t: float) -> float | None:
        """0..1 through the fault when `sense` shows it at t, else None."""
        if sense not in self.senses or not self.start_s <= t < self.end_s:
            return None
        return (t - self.start_s) / (self.end_s - self.start_s)


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything random about one episode, drawn before anything is written."""

    split: str
    index: int
    name: str
    kind: str
    device: Device
    duration_s: int
    learn_s: int
    streams: tuple[str, ...]
    fault: Fault | None
    sensor_offset: int  # the healthy SKAB row at t_s = 0
    noisy: tuple[int, int] | None = None
    noisy_audio: str = ""  # "speed" or "gain"
    gaps: dict[str, tuple[int, int]] = field(default_factory=dict)

    def is_noisy(self, t: float) -> bool:
        return self.noisy is not None and self.noisy[0] <= t < self.noisy[1]

    def progress(self, sense: str, t: float) -> float | None:
        return None if self.fault is None else self.fault.progress(sense, t)


def devices(split: str, sources: Sources, seed: int) -> tuple[Device, ...]:
    """One device per SKAB session and shaft speed of the split; dev pump-01.., test pump-11.."""
    combos = [(t.session, rpm) for t in sources.sessions for rpm in UESTC_RPM[split]]
    found = []
    for k, (session, rpm) in enumerate(combos):
        rng = np.random.default_rng([seed, SPLITS.index(split), k])
        hx, hy = rng.uniform(30, 50), rng.uniform(25, 35)
        scene = Scene(
            k,
            round(rng.uniform(18, 32), 1),
            round(rng.uniform(5, 12), 1),
            (hx, hy),
            (hx + rng.uniform(10, 16), hy - rng.uniform(2, 8)),
        )
        number = k + 1 + (10 if split == "test" else 0)
        found.append(Device(f"pump-{number:02d}", session, rpm, scene))
    return tuple(found)


def fault_senses(kind: str, occurrence: int) -> tuple[str, ...]:
    """The senses a kind's k-th episode shows its fault in, rotating through every choice."""
    combos: list[tuple[str, ...]]
    if kind in ("single", "dropout-fault"):
        combos = [(s,) for s in SENSES]
    elif kind == "double":
        combos = list(itertools.combinations(SENSES, 2))
    elif kind == "triple":
        combos = list(itertools.combinations(SENSES, 3))
    elif kind == "growing":
        combos = list(GROWING_SENSES)
    else:
        return ()
    return combos[occurrence % len(combos)]


def fault_type(senses: tuple[str, ...], audio: str, anomaly: Anomaly | None, image: str) -> str:
    """The event's name: the bearing class if heard, else the SKAB fault, hot spot, or defect."""
    if "audio" in senses:
        return audio
    if anomaly is not None:
        return anomaly.type
    return "hot_spot" if "thermal" in senses else image


def pick_streams(rng: np.random.Generator, kind: str, needed: tuple[str, ...]) -> tuple[str, ...]:
    """The fault's senses plus others: usually all four, sometimes a device with fewer."""
    if kind == "noisy":
        return SENSES
    size = max(len(needed), 2, int(rng.choice([4, 3, 2], p=[0.6, 0.25, 0.15])))
    others = [s for s in SENSES if s not in needed]
    chosen = set(needed) | set(rng.permutation(others)[: size - len(needed)].tolist())
    return tuple(s for s in SENSES if s in chosen)


def plan_fault(
    rng: np.random.Generator,
    senses: tuple[str, ...],
    growing: bool,
    anomaly: Anomaly | None,
    learn_s: int,
    duration_s: int,
    sources: Sources,
) -> Fault:
    """Where the event sits: after learning and settling, inside the episode."""
    earliest = learn_s + SETTLE_S
    if anomaly is not None:  # the SKAB segment sets the length
        length = len(anomaly.rows)
        start = int(rng.integers(earliest, duration_s - length + 1))
        end = start + length
    else:
        shortest = MIN_GROWING_S if growing else MIN_FAULT_S
        start = int(rng.integers(earliest, duration_s - shortest + 1))
        to_end = rng.random() < 0.5  # a worn bearing does not heal
        end = duration_s if to_end else int(rng.integers(start + shortest, duration_s + 1))
    audio = str(rng.choice(BEARING_FAULTS))
    image = str(rng.choice(sorted({i.name_class for i in sources.images})))
    return Fault(
        start,
        end,
        fault_type(senses, audio, anomaly, image),
        senses,
        growing,
        audio,
        image,
        round(float(rng.uniform(*SPOT_C)), 1),
        anomaly,
    )


def place_gap(
    rng: np.random.Generator, lo: int, hi: int, blocked: tuple[int, int] | None
) -> tuple[int, int] | None:
    """A dropout of GAP_S length inside [lo, hi) that misses `blocked`; None when none fits."""
    for _ in range(100):
        length = int(rng.integers(GAP_S[0], GAP_S[1] + 1))
        if hi - length <= lo:
            continue
        start = int(rng.integers(lo, hi - length))
        if blocked is None or start + length <= blocked[0] or start >= blocked[1]:
            return start, start + length
    return None


def plan_gaps(
    rng: np.random.Generator,
    kind: str,
    streams: tuple[str, ...],
    fault: Fault | None,
    learn_s: int,
    duration_s: int,
) -> dict[str, tuple[int, int]]:
    """One or two streams drop out for minutes after learning, never over their own fault."""
    if not kind.startswith("dropout"):
        return {}
    gaps = {}
    for sense in rng.permutation(streams)[: int(rng.integers(1, 3))].tolist():
        blocked = None
        if fault is not None and sense in fault.senses:
            blocked = (fault.start_s - GAP_CLEAR_S, fault.end_s + GAP_CLEAR_S)
        gap = place_gap(rng, max(learn_s, GAP_CLEAR_S), duration_s, blocked)
        if gap is not None:
            gaps[sense] = gap
    return gaps


def pick(rng: np.random.Generator, items: tuple[Any, ...] | list[Any]) -> Any:
    return items[int(rng.integers(len(items)))]


def pick_device(
    rng: np.random.Generator,
    senses: tuple[str, ...],
    growing: bool,
    sources: Sources,
    fleet: tuple[Device, ...],
) -> tuple[Device, Anomaly | None]:
    """Any device; for a sensor fault, one whose SKAB session recorded such an anomaly."""
    if "sensor" not in senses:
        return pick(rng, fleet), None
    choices = [
        (d, a)
        for d in fleet
        for a in sources.session(d.session).anomalies
        if a.growing or not growing
    ]
    return pick(rng, choices)


def plan_noisy(
    rng: np.random.Generator, split: str, learn_s: int, duration_s: int
) -> tuple[tuple[int, int], str]:
    """A healthy stretch of NOISY_S after learning where every sense sees a harmless change."""
    room = duration_s - learn_s - GAP_CLEAR_S
    length = int(rng.integers(NOISY_S[0], min(NOISY_S[1], room) + 1))
    start = int(rng.integers(learn_s + GAP_CLEAR_S, duration_s - length + 1))
    speeds = len(UESTC_RPM[split]) > 1
    return (start, start + length), "speed" if speeds and rng.random() < 0.5 else "gain"


def shortest_event(kind: str, anomaly: Anomaly | None) -> int:
    """Seconds the episode's fault (or noisy stretch) needs after learning and settling."""
    if anomaly is not None:
        return len(anomaly.rows)
    return MIN_GROWING_S if kind == "growing" else MIN_FAULT_S


def plan_episode(
    split: str, index: int, occurrence: int, sources: Sources, fleet: tuple[Device, ...], seed: int
) -> Plan:
    """Draw one episode: kind by position, everything else from its own seeded generator."""
    rng = np.random.default_rng([seed, SPLITS.index(split), index, 1])
    kind = KIND_CYCLE[index % len(KIND_CYCLE)]
    senses = fault_senses(kind, occurrence)
    growing = kind == "growing"
    device, anomaly = pick_device(rng, senses, growing, sources, fleet)
    seconds, weights = zip(*LEARN_S, strict=True)
    learn_s = int(rng.choice(seconds, p=weights))
    needed = learn_s + SETTLE_S + shortest_event(kind, anomaly) + GAP_CLEAR_S
    duration_s = int(rng.choice([d for d in DURATIONS_S if d >= needed]))
    streams = pick_streams(rng, kind, senses)
    fault = None
    if senses:
        fault = plan_fault(rng, senses, growing, anomaly, learn_s, duration_s, sources)
    offset = int(rng.integers(len(sources.session(device.session).healthy)))
    if anomaly is not None and fault is not None:
        offset = anomaly.cut - fault.start_s  # the anomaly lands back where it was recorded
    noisy, noisy_audio = None, ""
    if kind == "noisy":
        noisy, noisy_audio = plan_noisy(rng, split, learn_s, duration_s)
    gaps = plan_gaps(rng, kind, streams, fault, learn_s, duration_s)
    name = f"{index:03d}-{kind}" + "".join(f"-{s}" for s in senses)
    return Plan(
        split,
        index,
        name,
        kind,
        device,
        duration_s,
        learn_s,
        streams,
        fault,
        offset,
        noisy,
        noisy_audio,
        gaps,
    )


def sample_times(plan: Plan, sense: str) -> list[int]:
    """Dense while learning, sparse after, minus the stream's dropout."""
    times = list(range(0, plan.learn_s, LEARN_STEP_S))
    times += range(plan.learn_s, plan.duration_s, STEP_S[sense])
    gap = plan.gaps.get(sense)
    return [t for t in times if gap is None or not gap[0] <= t < gap[1]]


def image_index(
    plan: Plan, sources: Sources, pool: Pool, rng: np.random.Generator
) -> list[tuple[int, str]]:
    """Box-free crops while healthy; defect images of one class under a fault.

    A growing defect shows on a rising share of frames (10 % -> 100 %), as a strip whose
    defects go from rare to constant would.
    """
    clean = [i for i in sources.images if i.free is not None]
    rows = []
    for t in sample_times(plan, "image"):
        progress = plan.progress("image", t)
        if (
            progress is not None
            and plan.fault is not None
            and shows_defect(plan.fault, progress, rng)
        ):
            defects = [i for i in sources.images if i.name_class == plan.fault.image_class]
            rows.append((t, pool.copy(pick(rng, defects).path, "image/defect")))
        else:
            gain = NOISY_IMAGE_GAIN if plan.is_noisy(t) else 1.0
            rows.append((t, pool.crop(pick(rng, clean), gain)))
    return rows


def shows_defect(fault: Fault, progress: float, rng: np.random.Generator) -> bool:
    return not fault.growing or rng.random() < 0.1 + 0.9 * progress


def spot_heat(plan: Plan, t: int) -> float:
    """The bearing's excess: rising over two minutes, or over the whole growing fault."""
    progress = plan.progress("thermal", t)
    if progress is None or plan.fault is None:
        return 0.0
    if plan.fault.growing:
        return plan.fault.spot_c * progress
    return plan.fault.spot_c * min(1.0, (t - plan.fault.start_s) / SUDDEN_RISE_S)


def thermal_index(
    plan: Plan, sources: Sources, pool: Pool, rng: np.random.Generator
) -> list[tuple[int, str]]:
    """Synthetic radiometric frames: ambient drifting, the housing warm, a hot bearing."""
    scene = plan.device.scene
    swing = NOISY_AMBIENT_C if plan.noisy else QUIET_AMBIENT_C
    rows = []
    for t in sample_times(plan, "thermal"):
        ambient = scene.ambient_c + swing * math.sin(math.pi * t / plan.duration_s)
        load = NOISY_LOAD_C if plan.is_noisy(t) else 0.0
        noise = int(rng.integers(THERMAL_NOISE_FIELDS))
        rows.append((t, pool.thermal(scene, ambient, load, spot_heat(plan, t), noise)))
    return rows


def audio_index(
    plan: Plan, sources: Sources, pool: Pool, rng: np.random.Generator
) -> list[tuple[int, str]]:
    """UESTC clips at the device's speed: normal, the fault class, or both mixed (growing)."""
    rpm = plan.device.rpm
    rows = []
    for t in sample_times(plan, "audio"):
        progress = plan.progress("audio", t)
        if progress is not None and plan.fault is not None:
            rows.append((t, fault_clip(plan.fault, progress, rpm, sources, pool, rng)))
        else:
            rows.append((t, healthy_clip(plan, t, sources, pool, rng)))
    return rows


def fault_clip(
    fault: Fault, progress: float, rpm: int, sources: Sources, pool: Pool, rng: np.random.Generator
) -> str:
    """A growing fault mixes its class into normal clips at a share rising over MIX_SHARES."""
    faults = sources.clips[fault.audio_class, rpm]
    if not fault.growing:
        return pool.copy(pick(rng, faults), f"audio/uestc/{fault.audio_class}")
    normals = sources.clips["normal", rpm]
    pair = int(rng.integers(MIX_PAIRS))
    normal = normals[pair * len(normals) // MIX_PAIRS]
    faulty = faults[pair * len(faults) // MIX_PAIRS]
    share = MIX_SHARES[min(len(MIX_SHARES) - 1, int(progress * len(MIX_SHARES)))]
    return pool.mix(normal, faulty, share, "audio/uestc-mix")


def healthy_clip(plan: Plan, t: int, sources: Sources, pool: Pool, rng: np.random.Generator) -> str:
    """Normal clips; while noisy, at the split's other speed or 6 dB louder."""
    rpm = plan.device.rpm
    noisy = plan.is_noisy(t)
    if noisy and plan.noisy_audio == "speed":
        rpm = next(r for r in UESTC_RPM[plan.split] if r != rpm)
    clip = pick(rng, sources.clips["normal", rpm])
    if noisy and plan.noisy_audio == "gain":
        return pool.louder(clip, NOISY_GAIN_DB, "audio/uestc-louder")
    return pool.copy(clip, "audio/uestc/normal")


def reflected(rows: np.ndarray, start: int, count: int) -> np.ndarray:
    """rows[start : start + count] of the series played forwards, backwards, forwards...

    Playing a healthy recording back and forth makes any length from it with no jump.
    """
    length = len(rows)
    if length == 1:
        return np.repeat(rows, count, axis=0)
    period = 2 * (length - 1)
    index = np.arange(start, start + count) % period
    return rows[np.where(index < length, index, period - index)]


def sensor_rows(plan: Plan, sources: Sources) -> np.ndarray:
    """One row a second: the session's healthy rows, the fault's SKAB anomaly at its place."""
    healthy = sources.session(plan.device.session).healthy
    fault = plan.fault
    if fault is None or fault.anomaly is None:
        return reflected(healthy, plan.sensor_offset, plan.duration_s)
    before = reflected(healthy, plan.sensor_offset, fault.start_s)
    after = reflected(healthy, fault.anomaly.cut, plan.duration_s - fault.end_s)
    return np.concatenate([before, fault.anomaly.rows, after + fault.anomaly.after_shift])


def write_sensor(path: Path, plan: Plan, sources: Sources) -> None:
    rows = sensor_rows(plan, sources)
    gap = plan.gaps.get("sensor")
    lines = [",".join(["t_s", *REGISTERS.values()])]
    for t, values in enumerate(rows):
        if gap is None or not gap[0] <= t < gap[1]:
            lines.append(",".join([str(t), *(f"{v:.6g}" for v in values)]))
    path.write_text("\n".join(lines) + "\n")


def write_index(path: Path, rows: list[tuple[int, str]]) -> None:
    """t_s,file with paths relative to the episode folder (DIR/<split>/<name>/)."""
    path.write_text("".join(["t_s,file\n", *(f"{t},../../{file}\n" for t, file in rows)]))


IndexBuilder = Callable[[Plan, Sources, Pool, np.random.Generator], list[tuple[int, str]]]
INDEX_BUILDERS: dict[str, IndexBuilder] = {
    "image": image_index,
    "thermal": thermal_index,
    "audio": audio_index,
}


def episode_yaml(plan: Plan) -> dict[str, Any]:
    streams: dict[str, Any] = {
        s: {"csv": "sensor.csv"} if s == "sensor" else {"index": f"{s}.csv"} for s in plan.streams
    }
    doc: dict[str, Any] = {
        "device": plan.device.name,
        "duration_s": plan.duration_s,
        "learn_s": plan.learn_s,
        "faults": [fault_entry(plan.fault)] if plan.fault else [],
        "streams": streams,
    }
    if "thermal" in plan.streams:
        doc["thermal_calibration"] = dict(CENTI_KELVIN)
    return doc


def fault_entry(fault: Fault) -> dict[str, Any]:
    return {
        "start_s": fault.start_s,
        "end_s": fault.end_s,
        "type": fault.type,
        "senses": list(fault.senses),
    }


def write_episode(root: Path, plan: Plan, sources: Sources, pool: Pool) -> None:
    folder = root / plan.split / plan.name
    folder.mkdir(parents=True)
    rng = np.random.default_rng([pool.seed, SPLITS.index(plan.split), plan.index, 2])
    for sense in plan.streams:
        if sense == "sensor":
            write_sensor(folder / "sensor.csv", plan, sources)
        else:
            rows = INDEX_BUILDERS[sense](plan, sources, pool, rng)
            write_index(folder / f"{sense}.csv", rows)
    text = yaml.safe_dump(episode_yaml(plan), sort_keys=False, default_flow_style=None)
    (folder / "episode.yaml").write_text(text)


def manifest_entry(plan: Plan) -> dict[str, Any]:
    """What episode.yaml says, plus what the evaluator need not know: kind, gaps, sources."""
    fault = plan.fault
    session = plan.device.session
    return {
        "path": f"{plan.split}/{plan.name}",
        "split": plan.split,
        "kind": plan.kind,
        "device": plan.device.name,
        "duration_s": plan.duration_s,
        "learn_s": plan.learn_s,
        "streams": list(plan.streams),
        "faults": [fault_entry(fault) | {"growing": fault.growing}] if fault else [],
        "gaps": {s: list(g) for s, g in plan.gaps.items()},
        "noisy": {"from_s": plan.noisy[0], "to_s": plan.noisy[1], "audio": plan.noisy_audio}
        if plan.noisy
        else None,
        "sources": {
            "sensor": {
                "skab_session": session,
                "files": list(SKAB_SESSIONS[plan.split][session]),
                "anomaly": fault.anomaly.file if fault and fault.anomaly else None,
            },
            "audio": {
                "uestc_rpm": plan.device.rpm,
                "fault_class": fault.audio_class if fault and "audio" in fault.senses else None,
            },
            "image": {
                "neu_det": NEU_SPLIT[plan.split],
                "defect_class": fault.image_class if fault and "image" in fault.senses else None,
            },
            "thermal": {"synthetic_scene": plan.device.scene.number},
        },
    }


def split_counts(count: int) -> dict[str, int]:
    test = round(count * TEST_SHARE)
    return {"dev": count - test, "test": test}


def build_split(data: Path, out: Path, split: str, count: int, seed: int) -> list[Plan]:
    """Plan and write one split's episodes, reporting progress on stderr."""
    sources = load(data, split)
    fleet = devices(split, sources, seed)
    pool = Pool(out, split, seed)
    seen: Counter[str] = Counter()
    plans = []
    for index in range(count):
        kind = KIND_CYCLE[index % len(KIND_CYCLE)]
        plan = plan_episode(split, index, seen[kind], sources, fleet, seed)
        seen[kind] += 1
        write_episode(out, plan, sources, pool)
        plans.append(plan)
        if (index + 1) % 10 == 0 or index + 1 == count:
            print(f"{split}: {index + 1}/{count} episodes", file=sys.stderr, flush=True)
    return plans


def summary(plans: list[Plan], out: Path, seconds: float) -> str:
    """Episodes per kind and split, hours, faults by senses, gaps, disk size, time."""
    lines = []
    for split in SPLITS:
        mine = [p for p in plans if p.split == split]
        kinds = Counter(p.kind for p in mine)
        faults = [p.fault for p in mine if p.fault]
        per_sense = Counter(s for f in faults for s in f.senses)
        lines += [
            f"{split}: {len(mine)} episodes, {sum(p.duration_s for p in mine) / 3600:.1f} h; "
            + ", ".join(f"{k} {kinds[k]}" for k in dict.fromkeys(KIND_CYCLE)),
            f"  faults {len(faults)} (1 sense {sum(len(f.senses) == 1 for f in faults)}, "
            f"2 senses {sum(len(f.senses) == 2 for f in faults)}, "
            f"3 senses {sum(len(f.senses) == 3 for f in faults)}, "
            f"growing {sum(f.growing for f in faults)}); by sense "
            + ", ".join(f"{s} {per_sense[s]}" for s in SENSES)
            + f"; dropouts {sum(len(p.gaps) for p in mine)}",
        ]
    files = [p for p in out.rglob("*") if p.is_file()]
    size = sum(p.stat().st_size for p in files)
    pool = sum(1 for p in files if p.relative_to(out).parts[0] == "pool")
    lines.append(f"{len(files)} files ({pool} in pool/), {size / 2**20:.1f} MiB, {seconds:.1f} s")
    return "\n".join(lines)


def write_manifest(out: Path, plans: list[Plan], count: int, seed: int) -> None:
    manifest = {
        "count": count,
        "seed": seed,
        "test_share": TEST_SHARE,
        "splits": {
            s: {
                "skab_sessions": SKAB_SESSIONS[s],
                "uestc_rpm": UESTC_RPM[s],
                "neu_det": NEU_SPLIT[s],
                "thermal": "synthetic",
            }
            for s in SPLITS
        },
        "episodes": [manifest_entry(p) for p in plans],
    }
    (out / "episodes.json").write_text(json.dumps(manifest, indent=1) + "\n")


def build(data: Path, out: Path, count: int, seed: int) -> list[Plan]:
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out}: not empty; remove it or choose another --out")
    plans = []
    for split, n in split_counts(count).items():
        plans += build_split(data, out, split, n, seed)
    write_manifest(out, plans, count, seed)
    return plans


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, required=True, help="a new or empty folder")
    parser.add_argument("--count", type=int, default=200, help="episodes, dev and test together")
    parser.add_argument("--seed", type=int, default=20261205)
    args = parser.parse_args()
    if args.count < 2:
        parser.error("--count: at least 2 (one per split)")
    started = time.perf_counter()
    plans = build(args.data, args.out, args.count, args.seed)
    print(summary(plans, args.out, time.perf_counter() - started), file=sys.stderr)


if __name__ == "__main__":
    main()
