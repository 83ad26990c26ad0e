"""tools/episode_subset.py: some episodes, some streams, the faults those streams show."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.apps.evaluate.episodes.format import read_episodes
from tests.support.episode_files import four_sense_episode
from tools.episode_subset import main


@pytest.fixture
def data(tmp_path: Path) -> Path:
    root = tmp_path / "episodes"
    four_sense_episode(root / "dev" / "a", seconds=30, bright_from=20)
    four_sense_episode(root / "test" / "b", seconds=30, bright_from=20)
    return root


def test_one_stream_of_the_included_episodes(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["--data", str(data), "--include", "dev/*", "--streams", "sensor", "--out", str(out)])
    (episode,) = read_episodes(out)
    assert episode.name == "dev/a"
    assert episode.senses == ["sensor"]
    document = yaml.safe_load((out / "dev" / "a" / "episode.yaml").read_text())
    assert document["faults"] == []  # the fault shows in the image only
    assert "thermal_calibration" not in document
    assert (out / "dev" / "a" / "sensor.csv").samefile(data / "dev" / "a" / "sensor.csv")


def test_media_streams_keep_their_files_and_faults(data: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    main(["--data", str(data), "--streams", "image,audio", "--out", str(out)])
    episodes = read_episodes(out)
    assert [e.name for e in episodes] == ["dev/a", "test/b"]
    assert episodes[0].senses == ["image", "audio"]
    assert [f.start_s for f in episodes[0].spec.faults] == [20]
    assert sorted(p.name for p in (out / "dev" / "a" / "media").iterdir()) == [
        "bright.jpg",
        "grey.jpg",
        "hum.wav",
    ]


def test_an_unknown_stream_is_named(
    data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["--data", str(data), "--streams", "sensor,smell", "--out", str(tmp_path / "o")])
    assert "--streams: unknown ['smell']" in capsys.readouterr().err
