"""`evaluate` prints for people: scalars a line each, records as tables, calibration checks a
row each (the JSON keeps every field)."""

from __future__ import annotations

import json

from agent.apps.evaluate.report import render
from agent.core.calibration_check import SenseCheck

AUDIO = SenseCheck(48_341, [2_000, 1_160, 850]).view()
SENSOR = SenseCheck(500, [1, 0, 0]).view()


def lines(result: dict[str, object]) -> list[list[str]]:
    return [line.split() for line in render(result, as_json=False).splitlines()]


def test_the_episodes_check_prints_a_row_per_sense_and_per_episode_and_sense() -> None:
    result = {
        "episodes": 2,
        "per_class": {"ball": {"f1": 0.5}},
        "calibration_check": {
            "senses": {"audio": AUDIO, "sensor": SENSOR},
            # dev/002 judged nothing: no row
            "per_episode": {"dev/001": {"audio": AUDIO, "sensor": SENSOR}, "dev/002": {}},
        },
    }
    assert lines(result) == [
        ["episodes", "2"],
        ["per_class:"],
        ["ball:"],
        ["f1", "0.5000"],
        ["calibration_check:"],
        ["senses:"],
        ["sense", "judged", "1e-2", "1e-3", "1e-4", "verdict"],
        ["audio", "48341", "4.1x", "24x", "176x", "higher"],
        ["sensor", "500", "0.2x", "0x", "0x", "early"],
        ["per_episode:"],
        ["episode", "sense", "judged", "1e-2", "1e-3", "1e-4", "verdict"],
        ["dev/001", "audio", "48341", "4.1x", "24x", "176x", "higher"],
        ["dev/001", "sensor", "500", "0.2x", "0x", "0x", "early"],
    ]  # fmt: skip
    assert json.loads(render(result, as_json=True)) == result


def test_the_run_to_failure_check_prints_one_row_and_a_row_per_run() -> None:
    result: dict[str, object] = {
        "calibration_check": {"all_runs": AUDIO, "per_run": {"B1": AUDIO, "B2": SENSOR}}
    }
    assert lines(result) == [
        ["calibration_check:"],
        ["all_runs:"],
        ["judged", "1e-2", "1e-3", "1e-4", "verdict"],
        ["48341", "4.1x", "24x", "176x", "higher"],
        ["per_run:"],
        ["run", "judged", "1e-2", "1e-3", "1e-4", "verdict"],
        ["B1", "48341", "4.1x", "24x", "176x", "higher"],
        ["B2", "500", "0.2x", "0x", "0x", "early"],
    ]  # fmt: skip
