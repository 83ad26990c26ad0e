"""`edge-agent evaluate baseline` on tiny runs with known answers."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.baseline import persisted
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.intervals import rate_interval, rounded
from tests.support.vibration_runs import ONSET, SNAPSHOTS, failing_run, healthy_clips, stepped_run


@pytest.mark.parametrize(
    ("loud", "alarms"),
    [
        ([60, 90, 120, 130], 0),  # single knocks
        (list(range(100, 103)), 0),  # 30 s: under two thirds of a minute
        (list(range(100, 104)), 1),  # 40 s: two thirds of a minute
    ],
)
def test_an_alarm_needs_two_thirds_of_a_minute(
    tmp_path: Path, loud: list[int], alarms: int
) -> None:
    (run,) = evaluate("baseline", stepped_run(tmp_path / "b.npz", loud))["per_run"]
    assert run["alarms"] == alarms
    if alarms:  # raised at the fourth loud window, cleared once half the minute is quiet again
        assert run["alarm_open_first_half_s"] == pytest.approx(30.0)


def test_persisted_is_the_score_two_thirds_of_the_windows_reach() -> None:
    assert persisted([0.0, 0.0, 1.0, 1.0, 1.0, 1.0]) == 1.0
    assert persisted([1.0, 0.0, 1.0, 0.0, 1.0, 0.5]) == 0.5
    assert persisted([0.2, 0.9, 0.7]) == 0.7


def test_a_run_to_failure_alarms_once_with_a_known_lead_time(tmp_path: Path) -> None:
    result = evaluate("baseline", failing_run(tmp_path / "bearing.npz"))
    (run,) = result["per_run"]
    assert run["learn_snapshots"] == 30 and run["ends_in_failure"]
    assert run["false_alarms_first_half"] == run["false_alarms"] == 0
    assert run["alarmed"] and run["alarms"] == 1
    end = (SNAPSHOTS - 1) * 10.0 + 0.1
    assert end - ONSET * 10.0 - 80.0 <= run["lead_time_s"] <= end - ONSET * 10.0  # 8 windows
    assert result["alarm_open_first_half_fraction"] == 0.0
    assert result["baseline_rule"]["runs"] == 1
    # one run warned of its failure, none false in its first half: both say little
    first_half_h = run["first_half_s"] / 3600
    assert result["interval_95"] == {
        "failures_not_warned": [0.0, 0.975],
        "false_alarms_first_half_per_hour": rounded(rate_interval(0, first_half_h), 4),
    }
    # counted: the windows of the first half of life after learning (300 s to 1,490 s)
    check = result["calibration_check"]
    assert check["all_runs"] == check["per_run"]["bearing"]
    assert (check["all_runs"]["judged"], check["all_runs"]["verdict"]) == (120, "early")


def test_a_healthy_clip_folder_never_alarms_and_run_yaml_is_read(tmp_path: Path) -> None:
    healthy_clips(tmp_path / "runs" / "fan")
    result = evaluate("baseline", tmp_path / "runs", learn="0.4")
    (run,) = result["per_run"]
    assert (run["name"], run["ends_in_failure"], run["alarms"]) == ("fan", False, 0)
    assert result["lead_time_s"] == {"p50": None, "min": None}
    assert result["interval_95"]["failures_not_warned"] is None  # no run ends in failure
    (tmp_path / "runs" / "fan" / "run.yaml").write_text("ends_in_failure: true\ninterval_s: 60\n")
    (run,) = evaluate("baseline", tmp_path / "runs", learn="25m")["per_run"]
    assert run["ends_in_failure"] and run["learn_snapshots"] == 25


def test_bad_inputs_are_named(tmp_path: Path) -> None:
    healthy_clips(tmp_path / "runs" / "fan", count=30)
    with pytest.raises(DatasetError, match="a fraction"):
        evaluate("baseline", tmp_path / "runs", learn="lots")
    with pytest.raises(DatasetError, match="cannot learn on 3 windows"):
        evaluate("baseline", tmp_path / "runs", learn="0.1")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no runs"):
        evaluate("baseline", tmp_path / "empty")


def npz(path: Path, **arrays: object) -> Path:
    runs = {"x": np.zeros((3, 8), np.float32), "t_s": np.array([0.0, 10.0, 20.0]), "fs": 1000}
    np.savez(path, **{**runs, **arrays})  # type: ignore[arg-type]
    return path


@pytest.mark.parametrize(
    ("write", "named"),
    [
        (lambda p: npz(p, fs=np.array([1, 2])), "fs must be one positive number"),
        (lambda p: npz(p, x=np.zeros((0, 8)), t_s=np.zeros(0)), "one t_s per snapshot"),
        (lambda p: npz(p, t_s=np.array([0.0, np.nan, 20.0])), "t_s must be finite and increase"),
        (lambda p: npz(p, t_s=np.array([20.0, 10.0, 0.0])), "t_s must be finite and increase"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + b"garbage" * 10), "not a run file"),
    ],
)
def test_a_run_file_that_is_not_one_is_named(
    tmp_path: Path, write: Callable[[Path], object], named: str
) -> None:
    path = tmp_path / "run.npz"
    write(path)
    with pytest.raises(DatasetError, match=named):
        evaluate("baseline", path)


def test_a_run_yaml_nested_past_the_limit_is_named(tmp_path: Path) -> None:
    healthy_clips(tmp_path / "runs" / "fan", count=30)
    (tmp_path / "runs" / "fan" / "run.yaml").write_text("[" * 20_000 + "]" * 20_000)
    with pytest.raises(DatasetError, match=r"run\.yaml.*64 levels"):
        evaluate("baseline", tmp_path / "runs")


def test_the_command_prints_the_contract_keys(tmp_path: Path) -> None:
    failing_run(tmp_path / "bearing.npz")
    out = subprocess.run(
        [sys.executable, "-m", "agent", "evaluate", "baseline", "--data", str(tmp_path),
         "--json"], capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    result = json.loads(out)
    keys = {"runs", "per_run", "false_alarms_first_half_total", "alarm_open_first_half_fraction",
            "alarmed_runs", "lead_time_s", "baseline_rule"}  # fmt: skip
    assert keys <= set(result) and keys - {"baseline_rule"} <= set(result["baseline_rule"])
    assert {"name", "learn_snapshots", "ends_in_failure", "false_alarms_first_half",
            "false_alarms", "alarmed", "lead_time_s"} <= set(result["per_run"][0])  # fmt: skip
