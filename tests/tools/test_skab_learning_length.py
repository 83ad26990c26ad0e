"""tools/skab_learning_length: each file learned on its own 400 rows and on its session so far."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.apps.evaluate import sensor
from agent.apps.evaluate.sensor import TRAIN_ROWS
from tests.support.sensor_models import window_mean_stand_in
from tools import skab_learning_length as tool

CHANNELS = ["Current", "Pressure"]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    """A stand-in giving the learner its registers and a 4-row window."""
    return window_mean_stand_in(tmp_path / "stand-in.onnx", CHANNELS)


def write(path: Path, hour: int, rows: int, shifted: range | None, seed: int) -> int:
    """A SKAB-format file starting at `hour`: noisy Current and Pressure, Current 10 noise
    stds up on `shifted` rows (labelled); no label columns when `shifted` is None (an
    anomaly-free recording). Returns its healthy rows."""
    rng = np.random.default_rng(seed)
    current = 10.0 + rng.normal(0.0, 0.5, rows)
    pressure = 5.0 + rng.normal(0.0, 0.1, rows)
    labels = np.zeros(rows, dtype=int)
    if shifted is not None:
        current[shifted] += 5.0
        labels[shifted] = 1
    header = ["datetime", *CHANNELS, "Temperature"] + ([] if shifted is None else ["anomaly"])
    lines = [";".join(header)]
    for i in range(rows):
        label = [] if shifted is None else [f"{labels[i]}.0"]
        cells = [f"2020-02-08 {hour:02d}:{i // 60 % 60:02d}:{i % 60:02d}"]
        lines.append(";".join([*cells, f"{current[i]}", f"{pressure[i]}", "70.0", *label]))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return rows - int(labels.sum())


def test_each_file_learns_on_the_session_before_it_in_recording_order(
    tmp_path: Path, model: Path
) -> None:
    data = tmp_path / "skab"
    free = write(data / "anomaly-free" / "free.csv", 9, 600, None, seed=1)
    # named against their order: `b` was recorded first
    healthy_b = write(data / "other" / "b.csv", 10, 700, range(550, 650), seed=2)
    write(data / "other" / "a.csv", 11, 700, range(500, 620), seed=3)
    day = ["other/a.csv", "anomaly-free/free.csv", "other/b.csv"]
    report = tool.evaluate(data, model, {"2020-02-08": day})

    assert [e["file"] for e in report["per_file"]] == ["other/b.csv", "other/a.csv"]
    assert [e["learning_rows"] for e in report["per_file"]] == [
        free + TRAIN_ROWS,
        free + healthy_b + TRAIN_ROWS,
    ]
    # the own-400-rows column is `edge-agent evaluate sensor`'s learned row, file by file
    learned = sensor.evaluate(data, model)["learned"]["per_file"]
    for entry in report["per_file"]:
        own = entry["own_400_rows"]
        assert {k: own[k] for k in ("tp", "fp", "fn", "tn")} == {
            k: learned[entry["file"]][k] for k in ("tp", "fp", "fn", "tn")
        }
    # a departure of 10 noise stds is found with either learning
    for column in tool.COLUMNS:
        assert all(e[column]["tp"] > 0 and e[column]["refused"] == [] for e in report["per_file"])
        assert report["all"][column]["files"] == 2
    assert report["all"]["own_400_rows"]["f1"] > 0.5
    assert "| **all** (2 files) |" in tool.table(report)
