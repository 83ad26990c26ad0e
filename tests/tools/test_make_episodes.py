"""tools/make_episodes.py: episodes in the evaluator's format, split by source, reproducible.

Built from a tiny generated stand-in for ../shared/data (never the real one): every SKAB file
the split names, a few UESTC clips per class and speed, a few NEU-DET images per split.
"""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import soundfile as sf
import yaml

from tools.episode_sources import (
    BEARING_FAULTS,
    NEU_SPLIT,
    REGISTERS,
    SKAB_SESSIONS,
    SLOW,
    SLOW_REGISTERS,
    UESTC_RPM,
    timeline,
)
from tools.make_episodes import LEARN_STEP_S, build, reflected

COUNT = 30  # dev 21: every kind twice, a sensor fault from episode 15; test 9
SKAB_ROWS = 80
SKAB_ANOMALY = (30, 46)  # rows labelled anomalous in every labelled fake file
ANOMALY_ACCEL = 5.0  # accel1_rms_g inside the anomaly; healthy rows stay below 1


def fake_skab(root: Path) -> None:
    """Every SKAB file either split names; labelled rows carry an unmistakable accelerometer."""
    header = ["datetime", *REGISTERS, "anomaly", "changepoint"]
    rng = np.random.default_rng(0)
    for files in SKAB_SESSIONS.values():
        for file in (f for session in files.values() for f in session):
            path = root / "skab" / file
            path.parent.mkdir(parents=True, exist_ok=True)
            labelled = not file.startswith("anomaly-free")
            lines = [";".join(header if labelled else header[:-2])]
            for row in range(SKAB_ROWS):
                anomalous = labelled and SKAB_ANOMALY[0] <= row < SKAB_ANOMALY[1]
                values = rng.uniform(0.0, 0.9, len(REGISTERS))
                values[0] = ANOMALY_ACCEL if anomalous else values[0]
                cells = [f"2020-03-09 10:{row // 60:02d}:{row % 60:02d}", *map(str, values)]
                lines.append(";".join(cells + ([str(float(anomalous)), "0.0"] if labelled else [])))
            path.write_text("\n".join(lines) + "\n")


def fake_uestc(root: Path) -> None:
    rng = np.random.default_rng(1)
    for label in ("normal", *BEARING_FAULTS):
        folder = root / "bearings" / "uestc" / label
        folder.mkdir(parents=True)
        for rpm in (800, 1000, 1400):
            for clip in range(2):
                samples = rng.integers(-300, 300, 400).astype(np.int16)
                sf.write(folder / f"{rpm}rpm_f1_c{clip:02d}.wav", samples, 20000, "PCM_16")


def fake_neu(root: Path) -> None:
    """Two classes, two images each per split; one box on the left, the right half box-free."""
    rng = np.random.default_rng(2)
    for split in ("train", "val"):
        images, labels = (root / "defects" / k / split for k in ("images", "labels"))
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for name in ("crazing", "scratches"):
            for n in range(2):
                stem = f"{name}_{split}{n}"
                pixels = rng.integers(0, 255, (100, 100, 3)).astype(np.uint8)
                assert cv2.imwrite(str(images / f"{stem}.jpg"), pixels)
                (labels / f"{stem}.txt").write_text("0 0.2 0.5 0.3 0.8\n")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("shared") / "data"
    fake_skab(root)
    fake_uestc(root)
    fake_neu(root)
    return root


@pytest.fixture(scope="module")
def built(data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("episodes") / "set"
    build(data, out, COUNT, seed=5)
    return out


def episodes(root: Path) -> list[Path]:
    return sorted(p.parent for p in root.rglob("episode.yaml"))


def read_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def index_files(folder: Path, doc: dict[str, Any]) -> dict[str, list[dict[str, str]]]:
    return {
        sense: read_rows(folder / stream["index"])
        for sense, stream in doc["streams"].items()
        if "index" in stream
    }


def test_every_episode_follows_the_format(built: Path) -> None:
    folders = episodes(built)
    assert len(folders) == COUNT
    for folder in folders:
        doc = yaml.safe_load((folder / "episode.yaml").read_text())
        assert list(doc)[:5] == ["device", "duration_s", "learn_s", "faults", "streams"]
        duration, learn = doc["duration_s"], doc["learn_s"]
        assert 1800 <= duration <= 7200 and 0 <= learn < duration
        assert ("thermal_calibration" in doc) == ("thermal" in doc["streams"])
        for fault in doc["faults"]:
            assert set(fault) == {"start_s", "end_s", "type", "senses"}
            assert learn <= fault["start_s"] < fault["end_s"] <= duration
            assert set(fault["senses"]) <= set(doc["streams"])
        for sense, rows in index_files(folder, doc).items():
            assert rows and list(rows[0]) == ["t_s", "file"], (folder, sense)
            times = [float(r["t_s"]) for r in rows]
            assert times == sorted(times) and times[0] >= 0 and times[-1] < duration
            for row in rows:
                media = (folder / row["file"]).resolve()
                assert media.is_file() and media.is_relative_to(built.resolve()), row
        if "sensor" in doc["streams"]:
            sensor = read_rows(folder / doc["streams"]["sensor"]["csv"])
            assert list(sensor[0]) == ["t_s", *REGISTERS.values()]
            assert all(0 <= int(r["t_s"]) < duration for r in sensor)


def test_learning_gets_the_frames_and_clips_the_learners_need(built: Path) -> None:
    """300 thermal frames and audio windows (and image's 200) in a 600-s learning phase."""
    for folder in episodes(built):
        doc = yaml.safe_load((folder / "episode.yaml").read_text())
        for rows in index_files(folder, doc).values():
            learning = [r for r in rows if float(r["t_s"]) < doc["learn_s"]]
            assert len(learning) == doc["learn_s"] // LEARN_STEP_S


def test_the_kinds_cover_what_the_issue_asks(built: Path) -> None:
    manifest = json.loads((built / "episodes.json").read_text())
    entries = manifest["episodes"]
    assert {e["path"] for e in entries} == {str(p.relative_to(built)) for p in episodes(built)}
    faults = [f for e in entries for f in e["faults"]]
    assert {len(f["senses"]) for f in faults} == {1, 2, 3}
    assert any(f["growing"] for f in faults)
    assert any(not e["faults"] for e in entries) and any(e["noisy"] for e in entries)
    assert any(e["gaps"] for e in entries)


def test_a_stream_has_no_entries_inside_its_dropout(built: Path) -> None:
    manifest = json.loads((built / "episodes.json").read_text())
    for entry in (e for e in manifest["episodes"] if e["gaps"]):
        folder = built / entry["path"]
        for sense, (start, end) in entry["gaps"].items():
            name = "sensor.csv" if sense == "sensor" else f"{sense}.csv"
            times = [float(r["t_s"]) for r in read_rows(folder / name)]
            assert not any(start <= t < end for t in times)
            assert any(t < start for t in times) and any(t >= end for t in times)


def test_a_sensor_fault_is_the_labelled_skab_segment_at_its_place(built: Path) -> None:
    manifest = json.loads((built / "episodes.json").read_text())
    checked = 0
    for entry in manifest["episodes"]:
        for fault in (f for f in entry["faults"] if "sensor" in f["senses"]):
            rows = read_rows(built / entry["path"] / "sensor.csv")
            # healthy stretches are shifted by under 1 where they join (level-matched joins)
            marked = [int(r["t_s"]) for r in rows if float(r["accel1_rms_g"]) > ANOMALY_ACCEL - 1]
            assert marked == list(range(fault["start_s"], fault["end_s"]))
            checked += 1
    assert checked


def test_the_splits_draw_on_disjoint_recordings(built: Path) -> None:
    """Dev media only from NEU-DET train and UESTC 800/1000 rpm; test from val and 1400 rpm."""
    sessions = {s: {f for files in v.values() for f in files} for s, v in SKAB_SESSIONS.items()}
    assert not sessions["dev"] & sessions["test"]
    manifest = json.loads((built / "episodes.json").read_text())
    for entry in manifest["episodes"]:
        split, folder = entry["split"], built / entry["path"]
        assert entry["path"].startswith(f"{split}/")
        anomaly = entry["sources"]["sensor"]["anomaly"]
        assert anomaly is None or anomaly in sessions[split]
        doc = yaml.safe_load((folder / "episode.yaml").read_text())
        for rows in index_files(folder, doc).values():
            for row in rows:
                assert row["file"].startswith(f"../../pool/{split}/")
    for split, rpms in UESTC_RPM.items():
        for clip in (built / "pool" / split / "audio").rglob("*.wav"):
            assert int(clip.name.split("rpm")[0]) in rpms
        for image in (built / "pool" / split / "image").rglob("*.*"):
            if image.is_dir():
                continue
            assert image.stem.endswith(tuple(f"{NEU_SPLIT[split]}{n}" for n in range(2)))


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_the_same_seed_gives_the_same_bytes(data: Path, tmp_path: Path) -> None:
    build(data, tmp_path / "a", 8, seed=11)
    build(data, tmp_path / "b", 8, seed=11)
    build(data, tmp_path / "c", 8, seed=12)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_a_full_folder_is_refused(data: Path, tmp_path: Path) -> None:
    (tmp_path / "kept.txt").write_text("mine")
    with pytest.raises(SystemExit, match="not empty"):
        build(data, tmp_path, 4, seed=1)
    assert (tmp_path / "kept.txt").read_text() == "mine"


def test_reflection_makes_any_length_without_a_jump() -> None:
    rows = np.arange(5.0)[:, None]
    played = reflected(rows, -3, 12)[:, 0]
    assert played.tolist() == [3, 2, 1, 0, 1, 2, 3, 4, 3, 2, 1, 0]
    assert np.abs(np.diff(played)).max() == 1


def warming_session(root: Path) -> tuple[str, ...]:
    """Two SKAB files recorded back to back while every register warms by 0.01 a row; the
    first holds a labelled anomaly (rows 40-59) that adds 3 to every register."""
    header = ["datetime", *REGISTERS, "anomaly", "changepoint"]
    files = ("valve1/0.csv", "valve1/1.csv")
    for f, file in enumerate(files):
        path = root / file
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = [";".join(header)]
        for row in range(100):
            anomalous = f == 0 and 40 <= row < 60
            level = 0.01 * (100 * f + row) + (3.0 if anomalous else 0.0)
            cells = [f"2020-03-09 10:{f:02d}:{row % 60:02d}", *[str(level)] * len(REGISTERS)]
            lines.append(";".join([*cells, str(float(anomalous)), "0.0"]))
        path.write_text("\n".join(lines) + "\n")
    return files


def test_joins_around_a_cut_anomaly_are_level_matched(tmp_path: Path) -> None:
    """Cut out, the 20 anomalous rows leave a step of 0.2 (20 rows of warming) where the
    healthy rows join: the temperatures' joined rows step by one row's warming, the other
    registers' as recorded."""
    session = timeline(tmp_path, "2020-03-09", warming_session(tmp_path))
    steps = np.diff(session.healthy, axis=0)
    assert session.healthy.shape == (180, len(REGISTERS))
    assert np.allclose(steps[:, SLOW], 0.01, atol=1e-9), np.abs(steps[:, SLOW] - 0.01).max()
    recorded = np.full(179, 0.01)
    recorded[39] = 0.21  # row 39, then row 60
    assert np.allclose(steps[:, ~SLOW], recorded[:, None], atol=1e-9)
    assert [name for name, slow in zip(REGISTERS, SLOW, strict=True) if slow] == list(
        SLOW_REGISTERS
    )
    (anomaly,) = session.anomalies
    assert anomaly.cut == 40 and len(anomaly.rows) == 20


def test_a_fault_played_at_its_cut_has_both_edges_as_recorded(tmp_path: Path) -> None:
    session = timeline(tmp_path, "2020-03-09", warming_session(tmp_path))
    (anomaly,) = session.anomalies
    played = np.concatenate(
        [
            session.healthy[: anomaly.cut],
            anomaly.rows,
            session.healthy[anomaly.cut :] + anomaly.after_shift,
        ]
    )
    recorded = 0.01 * np.arange(200.0)
    recorded[40:60] += 3.0
    assert np.allclose(played, recorded[:, None], atol=1e-9)
