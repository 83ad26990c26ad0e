"""`evaluate baseline --plots DIR`: a picture of each run, on tiny runs with known alarms."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.svg import LEFT, PLOT_W
from tests.support.vibration_runs import (
    ONSET,
    SNAPSHOTS,
    failing_run,
    healthy_clips,
    stepped_run,
)

SVG = "{http://www.w3.org/2000/svg}"
END_S = (SNAPSHOTS - 1) * 10.0 + 0.1  # the last snapshot's start plus its 0.1 s


def picture(folder: Path) -> ET.Element:
    (path,) = folder.glob("*.svg")
    return ET.fromstring(path.read_text())


def titles(svg: ET.Element) -> list[str]:
    return [t.text or "" for t in svg.iter(f"{SVG}title")]


def minutes_raised(said: list[str], kind: str) -> list[float]:
    """When each of the learned baseline's alarms of that kind was raised, in minutes, from
    its tooltips (its marker and its bar say the same)."""
    prefix = f"learned baseline: {kind} raised at "
    return sorted({float(t[len(prefix) :].split(" min")[0]) for t in said if t.startswith(prefix)})


def test_a_run_to_failure_shows_its_learned_part_its_warning_and_its_end(tmp_path: Path) -> None:
    result = evaluate("baseline", failing_run(tmp_path / "bearing.npz"), plots=tmp_path / "p")
    svg = picture(tmp_path / "p")
    said = titles(svg)
    (warned,) = minutes_raised(said, "warning")
    (run,) = result["per_run"]
    assert warned == pytest.approx((END_S - run["lead_time_s"]) / 60, abs=0.05)
    assert warned >= ONSET * 10 / 60
    assert not minutes_raised(said, "false alarm")
    learned = [r for r in svg.iter(f"{SVG}rect") if r.findtext(f"{SVG}title") == "learned"]
    assert len(learned) == 2  # on both lanes: the first 30 snapshots
    assert float(learned[0].get("width", "nan")) == pytest.approx(300 * PLOT_W / END_S, abs=0.1)
    assert float(learned[0].get("x", "nan")) == LEFT
    words = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert {"learned baseline", "anchor rule", "half of life", "failure"} <= set(words)
    index = (tmp_path / "p" / "index.html").read_text()
    assert "With a false alarm or no warning: 0" in index
    lead = round(run["lead_time_s"] / 60)
    summary = "learned baseline: 1 of 1 failures warned, 0 false alarms in first halves (95 %: 0–"
    assert re.search(re.escape(summary) + rf"[\d.]+ per hour\), lead p50 {lead} min", index)


def test_an_alarm_in_a_healthy_stretch_is_drawn_false(tmp_path: Path) -> None:
    """Twice as loud for 40 s from snapshot 100: raised at the fourth loud window."""
    evaluate("baseline", stepped_run(tmp_path / "b.npz", list(range(100, 104))),
             plots=tmp_path / "p")  # fmt: skip
    said = titles(picture(tmp_path / "p"))
    assert minutes_raised(said, "false alarm")[0] == pytest.approx(1030 / 60, abs=0.05)
    assert "With a false alarm or no warning: 1" in (tmp_path / "p" / "index.html").read_text()


def test_a_healthy_clip_folder_is_drawn_without_a_failure(tmp_path: Path) -> None:
    healthy_clips(tmp_path / "runs" / "fan")
    evaluate("baseline", tmp_path / "runs", learn="0.4", plots=tmp_path / "p")
    svg = picture(tmp_path / "p")
    words = [t.text or "" for t in svg.iter(f"{SVG}text")]
    assert "failure" not in words and any(w.startswith("healthy run at") for w in words)
    assert not [t for t in titles(svg) if " raised at " in t]
