"""`edge-agent evaluate sound` on clip folders the tests write, with hand-computed metrics.

The knock detector (tests/support/audio_files.py) calls a steady hum "normal" and a pulsing
one "knocking", so a folder's expected predictions are known from the sounds put in it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from agent.apps.evaluate import evaluate as evaluate_kind
from agent.apps.evaluate.datasets import DatasetError
from agent.apps.evaluate.sound import evaluate, read_clip, scorer_config
from agent.cli import main
from agent.inference.loading import load_session
from agent.inference.models import models_dir
from agent.senses.audio.scorer import SoundScorer
from tests.support.audio_files import knock_model, knocking, steady_hum, write_audio

RATE = 16_000
CLASSES = ["normal", "knocking"]
CONTRACT = {"accuracy", "macro_f1", "confusion", "classes", "clips"}
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sound"
SHIPPED = models_dir() / "sound-cnn-lstm.onnx"

Sound = Callable[[float, int], np.ndarray]


def silent(seconds: float, rate: int) -> np.ndarray:
    return np.zeros(round(seconds * rate), dtype=np.float32)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return knock_model(
        tmp_path / "knock.onnx", metadata={"class_names": CLASSES, "sample_rate": RATE}
    )


def dataset(root: Path, folders: dict[str, list[Sound]]) -> Path:
    """DATA/<class>/clipNN.wav, one second of each given sound."""
    for label, sounds in folders.items():
        (root / label).mkdir(parents=True)
        for number, sound in enumerate(sounds):
            write_audio(root / label / f"clip{number:02d}.wav", sound(1.0, RATE), RATE)
    return root


def test_all_right(tmp_path: Path, model: Path) -> None:
    data = dataset(tmp_path / "data", {"normal": [steady_hum] * 2, "knocking": [knocking] * 3})
    result = evaluate(data, model)
    assert result["accuracy"] == 1.0
    assert result["macro_f1"] == 1.0
    assert result["confusion"] == {
        "normal": {"normal": 2, "knocking": 0},
        "knocking": {"normal": 0, "knocking": 3},
    }
    assert result["classes"] == CLASSES
    assert result["clips"] == 5
    assert result["silent_clips"] == 0


def test_all_wrong_when_the_folders_are_swapped(tmp_path: Path, model: Path) -> None:
    data = dataset(tmp_path / "data", {"normal": [knocking] * 2, "knocking": [steady_hum] * 3})
    result = evaluate(data, model)
    assert result["accuracy"] == 0.0
    assert result["macro_f1"] == 0.0
    assert result["confusion"] == {
        "normal": {"normal": 0, "knocking": 2},
        "knocking": {"normal": 3, "knocking": 0},
    }
    assert result["per_class"]["normal"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 2,
    }


def test_mixed(tmp_path: Path, model: Path) -> None:
    """normal: 3 right, 1 called knocking; knocking: 2 right, 1 called normal.

    accuracy 5/7; normal P = 3/4, R = 3/4, F1 = 0.75; knocking P = 2/3, R = 2/3, F1 = 2/3;
    macro-F1 = (0.75 + 0.6667) / 2 = 0.7083.
    """
    data = dataset(
        tmp_path / "data",
        {
            "normal": [steady_hum, steady_hum, knocking, steady_hum],
            "knocking": [knocking, steady_hum, knocking],
        },
    )
    result = evaluate(data, model)
    assert result["accuracy"] == 0.7143
    assert result["macro_f1"] == 0.7083
    assert result["confusion"] == {
        "normal": {"normal": 3, "knocking": 1},
        "knocking": {"normal": 1, "knocking": 2},
    }
    assert result["per_class"]["normal"] == {
        "precision": 0.75,
        "recall": 0.75,
        "f1": 0.75,
        "support": 4,
    }
    assert result["per_class"]["knocking"]["f1"] == 0.6667
    assert result["clips"] == 7


def test_macro_f1_covers_only_the_classes_in_the_data(tmp_path: Path, model: Path) -> None:
    """Only normal clips, one misjudged: P = 1, R = 2/3, F1 = 0.8 is the macro-F1."""
    data = dataset(tmp_path / "data", {"normal": [steady_hum, knocking, steady_hum]})
    result = evaluate(data, model)
    assert result["classes"] == ["normal"]
    assert result["accuracy"] == 0.6667
    assert result["macro_f1"] == 0.8
    assert result["confusion"] == {"normal": {"normal": 2, "knocking": 1}}


def test_a_clip_below_the_models_rate_is_named(tmp_path: Path, model: Path) -> None:
    data = dataset(tmp_path / "data", {"normal": [steady_hum]})
    write_audio(data / "normal" / "slow.wav", steady_hum(1.0, 8000), 8000)
    with pytest.raises(DatasetError, match=r"slow\.wav: .*8000 Hz"):
        evaluate(data, model)


def test_silence_counts_as_normal_and_is_reported(tmp_path: Path, model: Path) -> None:
    data = dataset(tmp_path / "data", {"normal": [silent], "knocking": [silent, knocking]})
    result = evaluate(data, model)
    assert result["silent_clips"] == 2
    assert result["confusion"] == {
        "normal": {"normal": 1, "knocking": 0},
        "knocking": {"normal": 1, "knocking": 1},
    }


def test_max_normal_score_is_the_highest_score_a_normal_clip_got(
    tmp_path: Path, model: Path
) -> None:
    quiet = evaluate(dataset(tmp_path / "quiet", {"normal": [steady_hum, silent]}), model)
    assert quiet["max_normal_score"] < 0.5
    loud = evaluate(dataset(tmp_path / "loud", {"normal": [steady_hum, knocking]}), model)
    assert loud["max_normal_score"] > 0.5
    assert (
        evaluate(dataset(tmp_path / "none", {"knocking": [knocking]}), model)["max_normal_score"]
        is None
    )


def test_a_folder_that_is_not_a_model_class_is_refused(tmp_path: Path, model: Path) -> None:
    data = dataset(tmp_path / "data", {"normal": [steady_hum], "squeal": [knocking]})
    with pytest.raises(DatasetError, match=r"\['squeal'\] are not classes of the model"):
        evaluate(data, model)


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        (None, "no such folder"),
        ({}, "no class sub-folders"),
        ({"normal": []}, "no WAV or FLAC files"),
    ],
)
def test_missing_or_empty_datasets(
    tmp_path: Path, model: Path, layout: dict[str, list[Sound]] | None, message: str
) -> None:
    data = tmp_path / "data"
    if layout is not None:
        data.mkdir()
        dataset(data, layout)
    with pytest.raises(DatasetError, match=message):
        evaluate(data, model)


def test_cli_json_prints_one_object_with_the_contract_keys(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = dataset(tmp_path / "data", {"normal": [steady_hum], "knocking": [knocking]})
    code = main(["evaluate", "sound", "--data", str(data), "--model", str(model), "--json"])
    result = json.loads(capsys.readouterr().out)
    assert code == 0
    assert set(result) >= CONTRACT
    assert result["accuracy"] == 1.0


def test_cli_missing_folder_exits_2_with_a_clear_message(
    tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nowhere"
    code = main(["evaluate", "sound", "--data", str(missing), "--model", str(model)])
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"cannot evaluate: {missing}: no such")


@pytest.mark.parametrize("clip", sorted(FIXTURES.glob("*/*.wav")), ids=lambda p: p.stem)
def test_shipped_model_classifies_held_out_cwru_clips(clip: Path) -> None:
    session = load_session(SHIPPED)
    scorer = SoundScorer("bearing", scorer_config(SHIPPED, session.metadata, clip), session)
    assert scorer.class_names == ["normal", "ball", "inner_race", "outer_race"]
    assert scorer.model_rate == 12_000
    assert scorer.score(read_clip(clip)).label == clip.parent.name


def test_evaluate_defaults_to_the_shipped_model() -> None:
    result = evaluate_kind("sound", FIXTURES)
    assert result["accuracy"] == 1.0
    assert result["clips"] == 4
