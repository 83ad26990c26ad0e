"""`evaluate episodes --plots DIR`: a picture of each replay, on tiny thermal episodes.

The thermal sense needs no model (see test_episodes.py): a device that learned a 41-45 °C
housing alarms on a 68 °C spot, so an episode with a hot spell inside its fault window and
another well after it has one detecting alarm and one false alarm, at known seconds.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest

from agent.apps.evaluate import evaluate
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.episodes import replay
from agent.apps.evaluate.episodes.device import read_settings
from agent.apps.evaluate.episodes.format import read_episodes
from agent.apps.evaluate.episodes.timeline import Timeline
from agent.apps.evaluate.svg import LEFT, PLOT_W, file_name
from agent.cli import main
from agent.inference.models import models_dir
from tests.support.episode_files import thermal_episode

SVG = "{http://www.w3.org/2000/svg}"
HEALTHY: list[float | None] = [41.0 + t % 5 for t in range(700)]
# learn 0-400 s; fault 600-660 s (hot); hot again 860-890 s, after the grace: a false alarm
PEAKS = HEALTHY[:600] + [68.0] * 60 + HEALTHY[:200] + [68.0] * 30 + HEALTHY[:110]
DURATION = len(PEAKS)


def hot_episode(folder: Path, fault_type: str = "overheating") -> Path:
    fault = {"start_s": 600, "end_s": 660, "type": fault_type, "senses": ["thermal"]}
    return thermal_episode(folder, PEAKS, faults=[fault], learn_s=400)


def titles(svg: ET.Element) -> list[str]:
    """Every tooltip in the picture."""
    return [t.text or "" for t in svg.iter(f"{SVG}title")]


def x_of(seconds: float) -> float:
    return LEFT + seconds * PLOT_W / DURATION


def test_a_picture_shows_learning_the_fault_and_both_alarms(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hot_episode(data / "hot")
    result = evaluate("episodes", data, plots=tmp_path / "plots")
    assert (result["detected"], result["false_alarms"]) == (1, 1)
    picture = tmp_path / "plots" / file_name(1, "hot")
    svg = ET.fromstring(picture.read_text())  # well-formed
    said = titles(svg)
    assert "learning" in said
    assert "overheating fault, 600–660 s" in said
    raised = [t for t in said if " raised at " in t]
    assert any(t.startswith("alarm raised at 600 s by temperature") for t in raised)
    assert any(t.startswith("false alarm raised at 860 s by temperature") for t in raised)
    alone = [t for t in raised if t.startswith("temperature alone: ")]  # its own lane
    assert result["per_sense_alone"]["temperature"]["false_alarms"] == 1
    assert any("alone: false alarm raised at 860 s" in t for t in alone)
    assert any("alone: alarm raised at 600 s" in t for t in alone)
    bands = {r.findtext(f"{SVG}title"): r for r in svg.iter(f"{SVG}rect")}
    fault_band = bands["overheating fault, 600–660 s"]
    assert float(fault_band.get("x", "nan")) == pytest.approx(x_of(600), abs=0.1)
    assert float(fault_band.get("width", "nan")) == pytest.approx(60 * PLOT_W / DURATION, abs=0.1)
    words = [t.text for t in svg.iter(f"{SVG}text")]
    assert "fused decision" in words and "temperature" in words
    assert any(w and w.startswith("1 of 1 faults detected · 1 false alarms") for w in words)
    index = (tmp_path / "plots" / "index.html").read_text()
    assert f'<img src="{picture.name}"' in index
    assert "With a false alarm or a missed fault: 1" in index
    assert '<p class="figures">1 of 1 faults detected · 1 false alarms (' in index
    assert re.search(r"per healthy hour, 95 % within [\d.]+–[\d.]+\)", index)
    # the 30 hot frames of the false alarm are healthy time: 479 judged, 30 at every level
    assert (
        "rare scores in healthy time, × promised at 1 in 10^2/10^3/10^4: temperature 6.3/63/626"
        in index
    )


def test_the_timeline_keeps_each_spans_highest_score_and_the_learned_level(
    tmp_path: Path,
) -> None:
    """Calibrated once learned: the hot spells' spans over the sense's alarm level, the
    healthy ones under it."""
    data = tmp_path / "data"
    hot_episode(data / "hot")
    (episode,) = read_episodes(data)
    outcome = replay(episode, read_settings(None), models_dir(), None, lambda line: None,
                     timeline=True)  # fmt: skip
    timeline = outcome.timeline
    assert isinstance(timeline, Timeline) and timeline.senses == ("temperature",)
    level = timeline.sense_thresholds["temperature"]
    assert 0.99 < level < 1.0
    values = timeline.values[:, 0]
    at = (np.arange(PLOT_W) + 0.5) * DURATION / PLOT_W  # each span's middle
    hot = ((at > 602) & (at < 658)) | ((at > 862) & (at < 888))
    after = at > 420
    assert np.all(values[hot] >= level)
    edges = np.any([np.isclose(at, edge, atol=3) for edge in (600, 660, 860, 890)], axis=0)
    assert np.max(values[after & ~hot & ~edges]) < level
    assert np.all(timeline.threshold[hot] > 0.99)


def test_untrusted_names_stay_text_and_file_names_stay_plain(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hot_episode(data / 'a<b>&"c', fault_type="<script>alert(1)</script>")
    evaluate("episodes", data, plots=tmp_path / "plots")
    (picture,) = (tmp_path / "plots").glob("*.svg")
    assert picture.name == "0001-a_b_c.svg"
    body = picture.read_text()
    assert "<script>" not in body and "&lt;script&gt;" in body
    assert "<b>" not in (tmp_path / "plots" / "index.html").read_text()
    ET.fromstring(body)


def test_worker_processes_draw_the_same_pictures(tmp_path: Path) -> None:
    data = tmp_path / "data"
    hot_episode(data / "hot")
    thermal_episode(data / "cool", [None] * 120, faults=[])
    evaluate("episodes", data, plots=tmp_path / "one")
    evaluate("episodes", data, jobs=2, plots=tmp_path / "two")
    names = sorted(p.name for p in (tmp_path / "one").iterdir())
    assert names == ["0001-cool.svg", "0002-hot.svg", "index.html"]
    for name in names:
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_the_command_draws_with_plots_and_only_for_episodes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    thermal_episode(data / "cool", [None] * 60, faults=[])
    assert main(["evaluate", "episodes", "--data", str(data), "--plots", str(tmp_path / "p"),
                 "--json"]) == 0  # fmt: skip
    assert (tmp_path / "p" / "index.html").is_file()
    assert f"episodes drawn: 1; open {tmp_path / 'p' / 'index.html'}" in capsys.readouterr().err
    with pytest.raises(DatasetError, match="--plots applies to evaluate episodes and baseline"):
        evaluate("sensor", data, plots=tmp_path / "q")
    (tmp_path / "taken").write_text("a file, not a folder")
    with pytest.raises(DatasetError, match=r"--plots .*taken: cannot write pictures there"):
        evaluate("episodes", data, plots=tmp_path / "taken")
