"""tools/train_fusion.py on made-up records (no replay): the fit weighs the sense that shows
the faults, the threshold and the alone levels meet the development limits, and the file it
writes reads back."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from agent.apps.evaluate.episodes.format import Episode, EpisodeSpec
from agent.apps.evaluate.episodes.scoring import summary
from agent.core.calibration import CalibratedFusion
from agent.learning.fusion_file import read_fusion_model
from tests.support.episode_files import thermal_episode
from tools.train_fusion import (
    SENSE_ORDER,
    Limits,
    Procedure,
    Recorded,
    cached_records,
    chosen_alone,
    chosen_threshold,
    fit,
    included,
    learned_row,
    main,
    out_of_fold,
    trained,
)

CALIBRATION = CalibratedFusion(1.0 - 1e-6, dict.fromkeys(SENSE_ORDER, 1.0))
AUDIO, SENSOR = SENSE_ORDER.index("audio"), SENSE_ORDER.index("sensor")
NO_FALSE_ALARM = Limits(grace_s=60.0, max_per_hour=0.0, max_open=0.0)


def record(
    k: int,
    fault: tuple[int, int] | None,
    rng: np.random.Generator,
    shown_by: str = "audio",
    device: str | None = None,
) -> Recorded:
    """An hour once a second: audio 4 decades past its threshold in the fault, else far below;
    the sensor wanders over its threshold whatever happens (a drifting operating point). A
    fault `shown_by` the sensor takes it 5 to 6 decades past its threshold instead. The
    device is pump-k unless named."""
    t = np.arange(600.0, 3600.0)
    faults = [] if fault is None else [{"start_s": fault[0], "end_s": fault[1], "type": "x"}]
    spec = EpisodeSpec.model_validate({
        "device": device or f"pump-{k}", "duration_s": 3600, "learn_s": 600, "faults": faults,
        "streams": {"audio": {"index": "audio.csv"}, "sensor": {"csv": "sensor.csv"}},
    })  # fmt: skip
    decades = np.full((t.size, len(SENSE_ORDER)), np.nan)
    decades[:, AUDIO] = rng.uniform(-6.0, -3.0, t.size)
    decades[:, SENSOR] = rng.uniform(-3.0, 2.0, t.size)
    label = np.zeros(t.size, dtype=np.int8)
    if fault is not None:
        on = (t >= fault[0]) & (t < fault[1])
        if shown_by == "audio":
            decades[on, AUDIO] = rng.uniform(3.0, 5.0, int(on.sum()))
        else:
            decades[on, SENSOR] = rng.uniform(5.0, 6.0, int(on.sum()))
        label[on] = 1
        label[(t >= fault[1]) & (t < fault[1] + 60)] = -1
    values = 1.0 - 1e-6 * 10.0**-decades
    episode = Episode(f"dev/{k:03d}", Path(), spec, {}, None)
    return Recorded(episode, CALIBRATION, t, values, label)


def test_the_fit_weighs_the_sense_that_shows_faults_and_the_threshold_meets_the_limits(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    records = [record(k, (1800, 2400) if k % 2 else None, rng) for k in range(6)]
    model = fit(records, knots=[-4.0, -2.0, 0.0], cap=12.0, l2=1e-3)
    weights = {s: sum(t.weights) for s, t in model.senses.items()}
    assert weights["audio"] > 10 * weights["sensor"]

    model, rows = chosen_threshold(records, model, NO_FALSE_ALARM)
    got = summary(rows)
    assert (got["false_alarms"], got["detected"], got["faults"]) == (0, 3, 3)
    args = argparse.Namespace(include="dev/*", data=tmp_path, l2=1e-3, version="2.0.0")
    model = trained(model, args, records, got)
    (tmp_path / "fusion.json").write_text(model.model_dump_json())
    read = read_fusion_model(tmp_path / "fusion.json")
    assert read.version == "2.0.0" and read.trained["dev_detected"] == 3


def test_a_sense_far_into_its_tail_alarms_alone_from_the_highest_level_that_catches_more() -> None:
    rng = np.random.default_rng(1)
    records = [record(k, (1800, 2400) if k % 2 else None, rng) for k in range(6)]
    model = fit(records, knots=[-4.0, -2.0, 0.0], cap=12.0, l2=1e-3)  # fitted on audio faults
    records += [record(k, (1800, 2400), rng, shown_by="sensor") for k in (6, 7)]
    model, rows = chosen_threshold(records, model, NO_FALSE_ALARM)
    got = summary(rows)
    assert (got["false_alarms"], got["detected"], got["faults"]) == (0, 3, 5)

    model, rows = chosen_alone(records, model, rows, NO_FALSE_ALARM)
    got = summary(rows)
    # the sensor reaches 2 decades while healthy: from 5 it catches its two faults, and
    # lower levels catch nothing more; audio alone would add nothing to the model's catches
    assert {s: t.alone_decades for s, t in model.senses.items()} == {
        "image": None, "temperature": None, "audio": None, "sensor": 5.0
    }  # fmt: skip
    assert (got["false_alarms"], got["detected"]) == (0, 5)
    # the figures handed back are the chosen model's, as a replay of every record gives them
    assert rows == [learned_row(r, model, NO_FALSE_ALARM.grace_s) for r in records]


def test_records_made_in_worker_processes_are_the_ones_made_in_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--jobs 2` replays the episodes two at a time and caches the same records."""
    for k, hot_from in enumerate([650, 700]):
        peaks: list[float | None] = [41.0 + t % 5 for t in range(800)]
        peaks[hot_from:] = [68.0] * (800 - hot_from)
        thermal_episode(tmp_path / "data" / "dev" / f"{k:03d}", peaks, faults=[], learn_s=400)
    episodes = included(tmp_path / "data", "dev/*")
    alone = cached_records(episodes, tmp_path / "one")
    together = cached_records(episodes, tmp_path / "two", jobs=2)
    assert alone.keys() == together.keys() == {"dev/000", "dev/001"}
    for name, taken in alone.items():
        assert taken["t_s"].size > 0
        for key, value in taken.items():
            np.testing.assert_array_equal(together[name][key], value)
    capsys.readouterr()
    assert cached_records(episodes, tmp_path / "two", jobs=2).keys() == alone.keys()
    assert "2 of 2 episodes already recorded" in capsys.readouterr().err  # none replayed again


def test_cross_validation_judges_each_device_by_a_model_made_without_it() -> None:
    """Only pump-s shows its faults through the sensor: a model made with its records learns
    the sensor's alone level and catches them; one made without them cannot."""
    rng = np.random.default_rng(2)
    records = [
        record(k, (1800, 2400) if k % 2 else None, rng, device=f"pump-{k // 2}") for k in range(6)
    ]
    records += [record(k, (1800, 2400), rng, shown_by="sensor", device="pump-s") for k in (6, 7)]
    procedure = Procedure(knots=(-4.0, -2.0, 0.0), cap=6.0, l2=1e-3, limits=NO_FALSE_ALARM)
    lines: list[str] = []

    _, seen = procedure.made(records, say=lines.append)
    unseen = out_of_fold(procedure, records, say=lines.append)

    assert [row.name for row in unseen] == [r.episode.name for r in records]
    assert (summary(seen)["detected"], summary(unseen)["detected"]) == (5, 3)
    assert [row.detected for row in unseen[6:]] == [0, 0]  # pump-s's faults
    assert summary(unseen)["false_alarms"] == 0
    assert lines[-5] == "cross-validating: 4 folds, one per device, 1 at a time"
    assert [line.split(":")[0] for line in lines[-4:]] == [
        f"{device} judged by a model made without it"
        for device in ("pump-0", "pump-1", "pump-2", "pump-s")
    ]


def test_a_model_file_judges_the_records_it_was_made_from_as_they_were_judged(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--compare` the written model on the same records: the figures `--report` keeps for it
    are the development figures, episode by episode."""
    fault = {"start_s": 650, "end_s": 800, "type": "hot_spot", "senses": ["thermal"]}
    for k, hot_from in enumerate([800, 650]):
        peaks: list[float | None] = [41.0 + t % 5 for t in range(800)]
        peaks[hot_from:] = [68.0] * (800 - hot_from)
        folder = tmp_path / "data" / "dev" / f"{k:03d}"
        thermal_episode(folder, peaks, faults=[fault] if k else [], learn_s=400)
    common = ["--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache")]
    model_file, report_file = tmp_path / "out" / "fusion.json", tmp_path / "report.json"
    model_file.parent.mkdir()
    main([*common, "--version", "9.0.0", "--out", str(model_file)])
    main([*common, "--compare", str(model_file), "--report", str(report_file)])

    report = json.loads(report_file.read_text())
    assert report["development"]["faults"] == 1 and report["unseen_device"] is None
    assert report["compared"] == {str(model_file): report["development"]}
    assert [row["name"] for row in report["weighted_mode"]["per_episode"]] == ["dev/000", "dev/001"]
    assert f"judged by {model_file} (9.0.0)" in capsys.readouterr().err


def test_a_model_to_compare_that_cannot_be_read_stops_the_run_before_any_replay(
    tmp_path: Path,
) -> None:
    thermal_episode(tmp_path / "data" / "dev" / "000", [41.0] * 500, faults=[], learn_s=400)
    (tmp_path / "broken.json").write_text('{"format": ')
    with pytest.raises(SystemExit, match=r"^--compare: .*broken\.json: not JSON"):
        main(["--data", str(tmp_path / "data"), "--cache", str(tmp_path / "cache"),
              "--compare", str(tmp_path / "broken.json")])  # fmt: skip
    assert not (tmp_path / "cache").exists()
