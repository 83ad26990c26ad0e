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
