"""ModelMetadata: the typed reader of ONNX custom metadata every scorer and tool uses."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agent.inference.metadata import ModelMetadata
from agent.inference.session import ModelError, OnnxRuntimeSession
from tests.support.onnx_models import constant_model


def meta(**values: str) -> ModelMetadata:
    return ModelMetadata(values, "m@1")


def test_of_reads_a_real_models_metadata_and_names_it(tmp_path: Path) -> None:
    path = constant_model(
        tmp_path / "m.onnx",
        np.zeros((1, 2), dtype=np.float32),
        [1, 3],
        input_name="x",
        metadata={"name": "demo", "version": "2.0", "window": "16"},
    )
    metadata = ModelMetadata.of(OnnxRuntimeSession(path))
    assert metadata.model == "demo@2.0"
    assert metadata.integer("window") == 16
    assert "window" in metadata and "imgsz" not in metadata
    assert dict(metadata) == {"name": "demo", "version": "2.0", "window": "16"}


def test_text_is_the_raw_string_or_the_default() -> None:
    metadata = meta(output="probabilities")
    assert metadata.text("output") == "probabilities"
    assert metadata.text("output", "logits") == "probabilities"
    assert metadata.text("absent") is None
    assert metadata.text("absent", "logits") == "logits"


@pytest.mark.parametrize(("raw", "value"), [("16", 16), (" 3 ", 3), ("+7", 7)])
def test_integer_reads_decimal_integers(raw: str, value: int) -> None:
    assert meta(window=raw).integer("window") == value


def test_integer_absent_is_none_or_the_default() -> None:
    assert meta().integer("window") is None
    assert meta().integer("window", 32) == 32


@pytest.mark.parametrize("raw", ["sixteen", "", "1.5", "0", "-3", "1e3", "True"])
def test_integer_refuses_anything_but_a_positive_integer(raw: str) -> None:
    with pytest.raises(ModelError) as caught:
        meta(window=raw).integer("window", 32)
    assert str(caught.value) == f"model m@1: metadata 'window'={raw!r} is not an integer > 0"


def test_integer_minimum_can_be_lowered() -> None:
    assert meta(skip="0").integer("skip", minimum=0) == 0
    with pytest.raises(ModelError, match=r"'skip'='-1' is not an integer >= 0"):
        meta(skip="-1").integer("skip", minimum=0)


@pytest.mark.parametrize(("raw", "value"), [("0.5", 0.5), ("-50", -50.0), ("1e-3", 1e-3)])
def test_number_reads_finite_floats(raw: str, value: float) -> None:
    assert meta(scale=raw).number("scale") == value


def test_number_absent_is_none_or_the_default() -> None:
    assert meta().number("scale") is None
    assert meta().number("scale", -50.0) == -50.0


@pytest.mark.parametrize("raw", ["loud", "", "nan", "inf", "-inf"])
def test_number_refuses_non_finite_or_non_numbers(raw: str) -> None:
    with pytest.raises(ModelError, match=rf"model m@1: metadata 'scale'={raw!r} is not a finite"):
        meta(scale=raw).number("scale", 1.0)


def test_literal_reads_ultralytics_python_literals() -> None:
    metadata = meta(names="{0: 'crazing', 1: 'inclusion'}", imgsz="[640, 480]")
    assert metadata.literal("names") == {0: "crazing", 1: "inclusion"}
    assert metadata.literal("imgsz") == [640, 480]
    assert metadata.literal("absent") is None


@pytest.mark.parametrize("raw", ["{0: 'a'", "os.system('x')", ""])
def test_literal_refuses_what_is_not_a_literal(raw: str) -> None:
    with pytest.raises(ModelError, match=r"model m@1: metadata 'names'=.* is not a Python literal"):
        meta(names=raw).literal("names")


def test_json_reads_any_json_value() -> None:
    assert meta(k='{"a": [1, 2]}').json("k") == {"a": [1, 2]}
    assert meta(k="null").json("k") is None
    assert meta().json("k") is None


def test_json_refuses_invalid_json_quoting_at_most_80_characters() -> None:
    raw = "[" + "x" * 200
    with pytest.raises(ModelError) as caught:
        meta(k=raw).json("k")
    assert str(caught.value) == f"model m@1: metadata 'k'={raw[:80]!r} is not JSON"


def test_str_list_reads_a_json_list_of_strings() -> None:
    assert meta(channels='["temp", "pressure"]').str_list("channels") == ["temp", "pressure"]
    assert meta(channels="[]").str_list("channels") == []
    assert meta().str_list("channels") is None


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ('["a", 1]', "must be a JSON list of strings"),
        ('"a"', "must be a JSON list of strings"),
        ("null", "must be a JSON list of strings"),
        ("['a']", "is not JSON"),
    ],
)
def test_str_list_refuses_other_values(raw: str, problem: str) -> None:
    with pytest.raises(ModelError, match=rf"model m@1: metadata 'channels'=.* {problem}"):
        meta(channels=raw).str_list("channels")


def test_error_names_the_model_the_key_and_the_value() -> None:
    error = meta(output="scores").error("output", "must be logits or probabilities")
    assert isinstance(error, ModelError)
    assert str(error) == "model m@1: metadata 'output'='scores' must be logits or probabilities"
