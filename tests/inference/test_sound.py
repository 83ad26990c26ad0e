"""SoundScorer over a hand-built ONNX knock detector (see tests/support/audio_files.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agent.core.samples import Sample
from agent.inference.loading import load_session
from agent.inference.session import ModelError
from agent.senses.audio.scorer import DEFAULT_MODEL_RATE, SoundScorer
from tests.support.audio_files import knock_model, knocking, microphone_config, noise, steady_hum

CLASSES = ["normal", "knocking"]


def audio(signal: np.ndarray, rate: int) -> Sample:
    return Sample("press-1", "audio", 100.0, signal, {"sample_rate": rate})


def scorer(model: Path, **fields: Any) -> SoundScorer:
    fields.setdefault("spectral_subtraction", False)
    return SoundScorer("press-1", microphone_config(model, file=model, **fields))


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return knock_model(tmp_path / "knock.onnx", metadata={"class_names": CLASSES})


@pytest.mark.parametrize("rate", [16_000, 48_000])
def test_steady_hum_is_normal_and_knocking_is_abnormal(model: Path, rate: int) -> None:
    sound = scorer(model)
    normal = sound.score(audio(steady_hum(1.0, rate), rate))
    abnormal = sound.score(audio(knocking(1.0, rate), rate))
    assert normal.value < 0.5 and normal.label == "normal"
    assert abnormal.value > 0.5 and abnormal.label == "knocking"
    for result in (normal, abnormal):
        probabilities = result.evidence["probabilities"]
        assert list(probabilities) == CLASSES
        assert sum(probabilities.values()) == pytest.approx(1.0, abs=1e-3)
        assert result.value == pytest.approx(1.0 - probabilities["normal"], abs=1e-3)
        assert result.evidence["duration_s"] == 1.0
        assert result.evidence["voiced_s"] == 1.0
        assert result.evidence["sample_rate"] == rate
        assert result.modality == "audio"
        assert result.device == "press-1"
        assert result.captured_at == 100.0
        assert result.model == sound.models[0] == load_session(model).version


def test_probability_output_is_not_softmaxed_twice(tmp_path: Path, model: Path) -> None:
    softmaxed = knock_model(
        tmp_path / "softmaxed.onnx", probabilities=True, metadata={"class_names": CLASSES}
    )
    clip = audio(knocking(1.0, 16_000), 16_000)
    expected = scorer(model).score(clip)
    result = scorer(softmaxed).score(clip)
    assert result.evidence["probabilities"] == expected.evidence["probabilities"]
    assert result.value == pytest.approx(expected.value, abs=1e-6)


def test_configured_names_and_rate_win_over_metadata(tmp_path: Path) -> None:
    model = knock_model(tmp_path / "m.onnx", metadata={"class_names": CLASSES, "sample_rate": 8000})
    assert scorer(model).model_rate == 8000
    assert scorer(model).class_names == CLASSES
    configured = scorer(
        model,
        classifier={"class_names": ["ok", "knock"], "normal_class": "ok", "sample_rate": 22_050},
    )
    assert configured.model_rate == 22_050
    result = configured.score(audio(knocking(1.0, 22_050), 22_050))
    assert result.label == "knock"
    assert set(result.evidence["probabilities"]) == {"ok", "knock"}


def test_model_rate_defaults_to_16k(tmp_path: Path) -> None:
    model = knock_model(tmp_path / "m.onnx")
    assert scorer(model, classifier={"class_names": CLASSES}).model_rate == DEFAULT_MODEL_RATE


@pytest.mark.parametrize(
    ("classifier", "metadata", "message"),
    [
        ({"normal_class": "ok"}, {"class_names": CLASSES}, "normal_class 'ok'"),
        ({"class_names": ["normal", "knocking", "squeal"]}, {}, "outputs 2 classes"),
        ({}, {}, "no class names"),
        ({}, {"class_names": CLASSES, "sample_rate": "fast"}, "sample_rate"),
        ({}, {"class_names": CLASSES, "output": "scores"}, "logits or probabilities"),
    ],
)
def test_a_model_that_does_not_fit_is_a_model_error(
    tmp_path: Path, classifier: dict[str, Any], metadata: dict[str, Any], message: str
) -> None:
    model = knock_model(tmp_path / "m.onnx", metadata=metadata)
    with pytest.raises(ModelError, match=message):
        scorer(model, classifier=classifier)


def test_silence_and_too_little_sound_score_zero(model: Path) -> None:
    rate = 16_000
    sound = scorer(model)
    silent = sound.score(audio(np.zeros(rate, dtype=np.float32), rate))
    assert (silent.value, silent.label, silent.model) == (0.0, "silence", None)
    assert silent.evidence == {
        "probabilities": {},
        "duration_s": 1.0,
        "voiced_s": 0.0,
        "sample_rate": rate,
    }
    gap = np.zeros(rate // 2, dtype=np.float32)
    click = sound.score(audio(np.concatenate([gap, noise(0.04, rate, 0.3), gap]), rate))
    assert click.label == "silence"
    assert 0.0 < click.evidence["voiced_s"] < 0.1


def test_spectral_subtraction_turns_steady_background_into_silence(model: Path) -> None:
    rate = 16_000
    background = audio(noise(1.0, rate, amplitude=0.01), rate)  # -40 dBFS, above the gate
    assert scorer(model).score(background).label == "normal"
    denoising = scorer(model, spectral_subtraction=True)
    assert denoising.score(background).label == "silence"
    assert denoising.score(audio(knocking(1.0, rate), rate)).value > 0.5


def test_audio_below_the_model_rate_is_refused(model: Path) -> None:
    """Upsampling cannot bring back the band the model listens to: an error, not a guess."""
    with pytest.raises(ValueError, match="8000 Hz, below the model's 16000 Hz"):
        scorer(model).score(audio(knocking(1.0, 8_000), 8_000))
