"""The calibration check: calibrated scores of a healthy machine reach each level of rarity as
often as promised; a machine that departs from its learned normal reaches them far more often."""

from __future__ import annotations

import json

import numpy as np
import pytest

from agent.core.calibration import HealthyTail
from agent.core.calibration_check import (
    BUCKET_S,
    LEVELS,
    MIN_JUDGED,
    MIN_REACHED,
    WINDOW_S,
    CalibrationCheck,
    LastDay,
    SenseCheck,
)
from agent.learning.store import SavedCheck


def calibrated(tail: HealthyTail, raw: np.ndarray) -> np.ndarray:
    return np.array([tail.calibrated(float(x)) for x in raw])


def counted(scores: np.ndarray) -> SenseCheck:
    check = SenseCheck()
    for value in scores:
        check.add(float(value))
    return check


def test_a_healthy_machine_reaches_each_level_about_as_often_as_promised() -> None:
    rng = np.random.default_rng(0)
    tail = HealthyTail.fit(rng.exponential(size=20_000))  # the tail the calibration assumes
    check = counted(calibrated(tail, rng.exponential(size=100_000)))  # later healthy running
    view = check.view()
    assert view["verdict"] == "holds" and view["judged"] == 100_000
    for level in view["levels"]:  # 1,000, 100 and 10 expected
        assert 0.5 < level["ratio"] < 2.0, level


def test_a_lighter_tail_than_exponential_reaches_rare_levels_less_often_than_promised() -> None:
    rng = np.random.default_rng(0)
    tail = HealthyTail.fit(rng.normal(size=2_000))
    view = counted(calibrated(tail, rng.normal(size=100_000))).view()
    assert view["verdict"] == "holds"
    assert [level["ratio"] for level in view["levels"]] == pytest.approx([1.0, 0.4, 0.1], abs=0.2)


def test_a_machine_louder_than_its_normal_reaches_rare_levels_far_more_often() -> None:
    rng = np.random.default_rng(1)
    tail = HealthyTail.fit(rng.normal(size=2_000))
    check = counted(calibrated(tail, rng.normal(loc=2.0, size=5_000)))  # 2 sd up: below alarms
    view = check.view()
    assert view["verdict"] == "higher"
    assert view["levels"][0]["ratio"] > 10.0


def test_too_few_scores_are_too_early_to_judge_even_when_every_one_is_rare() -> None:
    check = counted(np.full(MIN_JUDGED - 1, 1.0 - 1e-9))
    assert check.verdict() == "early"
    assert check.reached == [MIN_JUDGED - 1] * len(LEVELS)


def test_a_hard_limit_reaches_every_level_and_exact_levels_count() -> None:
    check = SenseCheck()
    check.add(1.0)
    check.add(0.99)  # exactly one in 100
    check.add(0.5)
    assert check.judged == 3 and check.reached == [2, 1, 1]


def test_a_few_rare_scores_in_a_row_are_not_a_verdict() -> None:
    """Consecutive scores share windows: one excursion reaches a level several times."""
    scores = np.concatenate([np.full(MIN_JUDGED * 10, 0.5), np.full(9, 1.0 - 1e-6)])
    assert counted(scores).verdict() == "holds"  # 9 at 10^4 where 1 is expected: under 10


def test_checks_merge_sense_by_sense() -> None:
    a, b = CalibrationCheck(), CalibrationCheck()
    a.add("audio", 0.999)
    b.add("audio", 0.5)
    b.add("sensor", 0.9999)
    a.merge(b)
    view = a.view()
    assert list(view) == ["audio", "sensor"]
    assert view["audio"]["judged"] == 2 and view["audio"]["levels"][1]["reached"] == 1
    assert view["sensor"]["levels"][2] == {
        "decades": 4, "reached": 1, "expected": pytest.approx(1e-4), "ratio": 10_000.0}  # fmt: skip


def test_the_running_check_says_when_a_senses_verdict_changes() -> None:
    check = LastDay(["audio"], started=0.0)
    said = [check.add("audio", 0.5, 1.0) for _ in range(MIN_JUDGED)]
    assert said[:-1] == [None] * (MIN_JUDGED - 1) and said[-1] == "holds"
    said = [check.add("audio", 1.0 - 1e-5, 1.0) for _ in range(MIN_REACHED * 2)]
    assert said.index("higher") == MIN_REACHED - 1  # 10 at 1 in 10^4, where 0.1 were expected
    assert [v for v in said if v is not None] == ["higher"]


def test_a_count_at_the_boundary_does_not_flip_the_running_verdict() -> None:
    """Once higher, a running check holds again only under half the ratio."""
    check = LastDay(["audio"], started=0.0)
    for k in range(2_000):  # one in ten reaches 1 in 100: 10 times the promise
        check.add("audio", 0.995 if k % 10 == 0 else 0.5, 1.0)
    assert check.said["audio"] == "higher"
    said = [check.add("audio", 0.5, 1.0) for _ in range(1_000)]  # down to 6.7 times
    assert set(said) == {None} and check.view(1.0)["senses"]["audio"]["verdict"] == "higher"
    said = [check.add("audio", 0.5, 1.0) for _ in range(1_100)]  # under 5 times
    assert [v for v in said if v is not None] == ["holds"]
    assert SenseCheck(3_000, [200, 0, 0]).verdict() == "holds"  # a benchmark's: no memory


def test_the_running_check_counts_the_last_day_so_a_new_change_shows_after_months() -> None:
    day, hour = WINDOW_S, BUCKET_S
    check = LastDay(["audio"], started=0.0)
    for k in range(30 * 24):  # a month of healthy hours, 100 scores each, none rare
        for _ in range(100):
            check.add("audio", 0.5, k * hour)
    month = 30 * day
    late = month - 1.0  # in the month's last hour
    assert check.view(late)["senses"]["audio"]["judged"] == 2_400  # the last 24 hours only
    assert check.view(late)["since"] == month - day  # in whole hours
    assert check.view(month)["senses"]["audio"]["judged"] == 2_300  # a new hour, none yet
    said = [check.add("audio", 1.0 - 1e-3, month + 60.0) for _ in range(MIN_REACHED * 3)]
    assert "higher" in said  # 30 at 1 in 1,000 where 2.4 were expected
    quiet = check.view(month + 2 * day)["senses"]["audio"]
    assert quiet["judged"] == 0 and quiet["verdict"] == "early"  # a day later: all gone
    assert LastDay(["audio"], started=month).view(month + hour)["since"] == month


def test_a_restart_goes_on_with_the_last_day_it_kept() -> None:
    """What `saved` writes, `resumed` reads back as the same check; hours that left the last
    day while the agent was stopped are gone, a sense no longer scored is forgotten."""
    hour = BUCKET_S
    check = LastDay(["audio", "sensor"], started=10.0)
    for k in range(3):
        for _ in range(600):
            check.add("audio", 0.995 if k == 2 else 0.5, 100.0 + k * hour)
        check.add("sensor", 0.5, 100.0 + k * hour)
    assert check.said["audio"] == "higher"
    saved = json.loads(json.dumps(check.saved()))  # through JSON, as on disk
    later = 100.0 + 2 * hour + 60.0
    again = LastDay.resumed(["audio", "sensor"], saved, later)
    assert again.view(later) == check.view(later) and again.said == check.said
    assert again.add("audio", 0.5, later) is None  # the verdict said goes on: no new log line
    assert again.view(later)["senses"]["audio"]["judged"] == 1_801
    a_day_on = WINDOW_S + 100.0  # the first hour has left the last day
    resumed = LastDay.resumed(["audio"], saved, a_day_on).view(a_day_on)
    assert list(resumed["senses"]) == ["audio"] and resumed["senses"]["audio"]["judged"] == 1_200
    ahead = {**saved, "hours": [*saved["hours"], {"hour": 10**6, "senses": {"audio": {
        "judged": 5, "reached": [5, 5, 5]}}}]}  # fmt: skip
    assert LastDay.resumed(["audio"], ahead, later).total.senses["audio"].judged == 1_800


def test_a_clock_set_back_counts_in_the_newest_hour_and_the_check_still_saves() -> None:
    """NTP steps the clock back across an hour's start: the hours stay each once, oldest
    first, so the running check can still be kept for a restart."""
    hour = BUCKET_S
    check = LastDay(["audio"], started=0.0)
    check.add("audio", 0.5, 10 * hour + 2.0)
    check.add("audio", 0.5, 10 * hour - 2.0)  # set back 4 s, into the hour before
    check.add("audio", 0.5, 10 * hour + 1.0)
    hours = [entry["hour"] for entry in check.saved()["hours"]]
    assert hours == sorted(set(hours)) == [10]
    assert check.total.senses["audio"].judged == 3
    SavedCheck(saved_at=10 * hour + 1.0, **check.saved())  # what the pipeline writes, accepted
