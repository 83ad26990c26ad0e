"""`evaluate` prints for people: scalars a line each, records as tables, calibration checks a
row per sense (the JSON keeps every field)."""

from __future__ import annotations

import json

from agent.apps.evaluate.report import render
from agent.core.calibration_check import SenseCheck


def test_a_calibration_check_prints_a_row_per_sense_and_per_run() -> None:
    check = {"audio": SenseCheck(48_341, [2_000, 1_160, 850]).view(),
             "sensor": SenseCheck(500, [1, 0, 0]).view()}  # fmt: skip
    result = {
        "runs": 2,
        "per_class": {"ball": {"f1": 0.5}},
        "calibration_check": {"all_runs": check, "per_run": {"B1": check, "B2": {}}},
    }
    text = render(result, as_json=False).splitlines()
    assert [line.split() for line in text[:4]] == [["runs", "2"], ["per_class:"], ["ball:"],
                                                    ["f1", "0.5000"]]  # fmt: skip
    assert text[5:8] == [
        "  all_runs:",
        "    sense   judged  1e-2  1e-3  1e-4  verdict",
        "    audio   48341   4.1x  24x   176x  higher",
    ]
    assert text[8] == "    sensor  500     0.2x  0x    0x    early"
    assert text[9:12] == [
        "  per_run:",
        "    run  sense   judged  1e-2  1e-3  1e-4  verdict",
        "    B1   audio   48341   4.1x  24x   176x  higher",
    ]
    assert len(text) == 13  # B2 judged nothing: no row
    assert json.loads(render(result, as_json=True)) == result
