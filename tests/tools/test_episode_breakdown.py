"""tools/episode_breakdown.py: a report's faults and delays, grouped by the generator's kinds."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.episode_breakdown import breakdown, main

MANIFEST = {
    "episodes": [
        {"path": "dev/000-healthy", "kind": "healthy"},
        {"path": "dev/001-single-image", "kind": "single"},
        {"path": "dev/002-growing-thermal", "kind": "growing"},
        {"path": "dev/003-double-image-audio", "kind": "double"},
    ]
}


def row(name: str, delays: list[float | None]) -> dict[str, Any]:
    detected = sum(d is not None for d in delays)
    return {"name": name, "faults": len(delays), "detected": detected,
            "time_to_detect_s": delays}  # fmt: skip


def report() -> dict[str, Any]:
    per_episode = [
        row("dev/000-healthy", []),
        row("dev/001-single-image", [10.0, None]),
        row("dev/002-growing-thermal", [600.0]),
        row("dev/003-double-image-audio", [30.0]),
    ]
    alone = [row("dev/001-single-image", [None, None]), row("dev/002-growing-thermal", [900.0])]
    return {
        "mode": "learned",
        "per_episode": per_episode,
        "weighted_mode": {"per_episode": per_episode},
        "per_sense_alone": {"temperature": {"per_episode": alone}},
    }


def test_sudden_and_growing_faults_are_counted_and_timed_apart() -> None:
    figures = breakdown(report(), MANIFEST, "onset")
    assert list(figures) == ["fusion (learned)", "`weighted` mode", "temperature alone"]
    fusion = figures["fusion (learned)"]
    assert list(fusion) == ["sudden", "growing"]  # the healthy episode has no fault to count
    assert fusion["sudden"] == {"faults": 3, "detected": 2,
                                "time_to_detect_s": {"p50": 20.0, "p90": 28.0}}  # fmt: skip
    assert fusion["growing"]["time_to_detect_s"] == {"p50": 600.0, "p90": 600.0}
    alone = figures["temperature alone"]
    assert alone["sudden"] == {"faults": 2, "detected": 0,
                               "time_to_detect_s": {"p50": None, "p90": None}}  # fmt: skip


def test_by_kind_keeps_each_kind_of_the_manifest() -> None:
    fusion = breakdown(report(), MANIFEST, "kind")["fusion (learned)"]
    assert list(fusion) == ["single", "growing", "double"]
    assert (fusion["double"]["faults"], fusion["double"]["detected"]) == (1, 1)


def test_the_table_reads_from_the_files_and_an_unknown_episode_is_named(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "report.json").write_text(json.dumps(report()))
    (tmp_path / "episodes.json").write_text(json.dumps(MANIFEST))
    files = [
        "--report",
        str(tmp_path / "report.json"),
        "--manifest",
        str(tmp_path / "episodes.json"),
    ]
    main(files)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("| decided by | sudden: detected, p50 / p90 s | growing:")
    assert lines[2] == "| fusion (learned) | 2 / 3, 20 / 28 | 1 / 1, 600 / 600 |"
    assert lines[4] == "| temperature alone | 0 / 2, – / – | 1 / 1, 900 / 900 |"

    other = {"episodes": MANIFEST["episodes"][:2]}
    (tmp_path / "episodes.json").write_text(json.dumps(other))
    with pytest.raises(SystemExit, match="dev/002-growing-thermal: not in the manifest"):
        main(files)


def check(judged: int, reached: list[int]) -> dict[str, Any]:
    """One sense's calibration check as `evaluate episodes` writes it (the tool reads counts)."""
    levels = [{"decades": d, "reached": k} for d, k in zip((2, 3, 4), reached, strict=True)]
    return {"judged": judged, "levels": levels, "verdict": "holds"}


def test_the_calibration_check_sums_each_senses_counts_per_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    per_episode = {
        "dev/000-healthy": {"audio": check(2_000, [20, 2, 0]), "sensor": check(4_000, [40, 0, 0])},
        "dev/001-single-image": {"audio": check(2_000, [60, 20, 10])},
        "dev/003-double-image-audio": {"audio": check(1_000, [0, 0, 0])},
    }
    (tmp_path / "report.json").write_text(
        json.dumps({**report(), "calibration_check": {"per_episode": per_episode}})
    )
    (tmp_path / "episodes.json").write_text(json.dumps(MANIFEST))
    main(["--report", str(tmp_path / "report.json"), "--manifest",
          str(tmp_path / "episodes.json"), "--calibration", "--by", "kind"])  # fmt: skip
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == (
        "| sense: judged, × promised at 1 in 10^2/10^3/10^4 | all | healthy | single | double |"
    )
    # all: 5,000 judged, 80 / 22 / 10 reached where 50 / 5 / 0.5 were promised
    assert (
        lines[2] == "| audio | 5,000, 1.6/4.4/20 | 2,000, 1/1/0 | 2,000, 3/10/50 | 1,000, 0/0/0 |"
    )
    assert lines[3] == "| sensor | 4,000, 1/0/0 | 4,000, 1/0/0 |  |  |"
