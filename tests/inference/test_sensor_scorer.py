"""SensorScorer with a real Isolation Forest trained here and exported by skl2onnx."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from sklearn.ensemble import IsolationForest

from agent.core.samples import HARD_LIMIT, Sample
from agent.inference.loading import load_session
from agent.inference.session import ModelError
from agent.senses.sensor.config import ModbusConfig, RegisterConfig, SensorAnomalyConfig
from agent.senses.sensor.preprocess import baseline_stats, smooth, standardise, window_features
from agent.senses.sensor.scorer import SensorScorer, calibrate
from tests.support.sensor_models import chain_features, export_forest, fit_forest, save_model

WINDOW = 16
SMOOTHING = 3
MEANS = np.array([50.0, 2.0])  # temp (°C), pressure (bar)
STDS = np.array([0.5, 0.05])
THRESHOLD, SCALE = 0.0, 0.02


def registers(**limits: float) -> list[RegisterConfig]:
    """temp and pressure holding registers; `temp_high=55` style keyword limits."""
    return [
        RegisterConfig(
            name=name,
            address=i * 2,
            data_type="float32",
            unit=unit,
            low=limits.get(f"{name}_low"),
            high=limits.get(f"{name}_high"),
        )
        for i, (name, unit) in enumerate([("temp", "°C"), ("pressure", "bar")])
    ]


def normal_windows(rng: np.random.Generator, count: int) -> np.ndarray:
    return rng.normal(MEANS, STDS, size=(count, WINDOW, 2))


def features(window: np.ndarray) -> np.ndarray:
    return chain_features(window, SMOOTHING)


@pytest.fixture(scope="module")
def forest() -> IsolationForest:
    return fit_forest(normal_windows(np.random.default_rng(0), 400), SMOOTHING)


@pytest.fixture(scope="module")
def forest_onnx(forest: IsolationForest) -> onnx.ModelProto:
    """The forest as skl2onnx exports it (converted once: conversion takes about a second)."""
    return export_forest(forest)


@pytest.fixture(scope="module")
def model_path(forest_onnx: onnx.ModelProto, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_model(forest_onnx, tmp_path_factory.mktemp("model") / "sensor.onnx")


class AnomalyFields(TypedDict, total=False):
    """What a test may set on the anomaly section besides its model."""

    threshold: float
    scale: float


class ModbusFields(TypedDict, total=False):
    """What a test may set on the Modbus section besides registers, smoothing and anomaly."""

    window: int | None
    baseline_samples: int
    poll_hz: float


def config(
    model: Path | None, regs: list[RegisterConfig] | None = None, **anomaly: Unpack[AnomalyFields]
) -> ModbusConfig:
    return ModbusConfig(
        registers=regs or registers(),
        window=WINDOW,
        smoothing=SMOOTHING,
        anomaly=None if model is None else SensorAnomalyConfig(model=model, **anomaly),
    )


def sample(
    values: np.ndarray | list[float], names: tuple[str, ...] = ("temp", "pressure")
) -> Sample:
    return Sample("pump-3", "sensor", 1000.0, dict(zip(names, map(float, values), strict=True)))


def feed(scorer: SensorScorer, window: np.ndarray) -> list:
    return [scorer.score(sample(row)) for row in window]


def test_calibration_is_logistic_around_the_threshold() -> None:
    assert calibrate(0.1, 0.1, 0.05) == 0.5
    assert calibrate(-0.2, 0.0, 0.05) > calibrate(-0.1, 0.0, 0.05) > 0.5
    assert calibrate(0.2, 0.0, 0.05) < 0.5
    assert calibrate(-1e6, 0.0, 0.01) == 1.0  # no overflow at the extremes
    assert calibrate(1e6, 0.0, 0.01) == 0.0
    assert calibrate(0.05, 0.0, 0.05) == pytest.approx(1 / (1 + math.e))


def test_normal_window_scores_low(model_path: Path) -> None:
    scorer = SensorScorer("pump-3", config(model_path, threshold=THRESHOLD, scale=SCALE))
    assert scorer.models == ["sensor-if@t1"]
    scores = feed(scorer, normal_windows(np.random.default_rng(42), 1)[0])
    assert scores[:-1] == [None] * (WINDOW - 1)
    score = scores[-1]
    assert score is not None
    assert score.value < 0.5
    assert score.evidence["raw_score"] > THRESHOLD
    assert score.value == pytest.approx(calibrate(score.evidence["raw_score"], THRESHOLD, SCALE))
    assert score.label in ("temp", "pressure")
    assert score.model == "sensor-if@t1"
    assert score.modality == "sensor"
    assert score.captured_at == 1000.0
    assert score.evidence["window"] == WINDOW
    assert score.evidence["out_of_range"] == []
    assert score.evidence["units"] == {"temp": "°C", "pressure": "bar"}
    json.dumps(score.evidence)


def test_raw_score_is_the_forests_decision_function(
    forest: IsolationForest, model_path: Path
) -> None:
    scorer = SensorScorer("pump-3", config(model_path, threshold=THRESHOLD, scale=SCALE))
    window = normal_windows(np.random.default_rng(5), 1)[0]
    score = feed(scorer, window)[-1]
    expected = forest.decision_function(features(window)[None, :].astype(np.float32))[0]
    assert score.evidence["raw_score"] == pytest.approx(expected, abs=1e-5)


def test_shifted_window_scores_high_and_names_the_shifted_register(model_path: Path) -> None:
    scorer = SensorScorer("pump-3", config(model_path, threshold=THRESHOLD, scale=SCALE))
    window = normal_windows(np.random.default_rng(7), 1)[0]
    window[-3:, 1] += 20 * STDS[1]  # pressure steps up for the last three samples
    score = feed(scorer, window)[-1]
    assert score.value > 0.5
    assert score.evidence["raw_score"] < THRESHOLD
    assert score.label == "pressure"


def test_window_slides_one_sample_at_a_time(model_path: Path) -> None:
    scorer = SensorScorer("pump-3", config(model_path, threshold=THRESHOLD, scale=SCALE))
    rng = np.random.default_rng(11)
    feed(scorer, normal_windows(rng, 1)[0])
    after = feed(scorer, normal_windows(rng, 1)[0][:3])
    assert all(s is not None and s.evidence["window"] == WINDOW for s in after)


def test_out_of_range_forces_one_even_before_the_window_is_full(model_path: Path) -> None:
    regs = registers(temp_high=55.0, pressure_low=1.0)
    scorer = SensorScorer("pump-3", config(model_path, regs, threshold=THRESHOLD, scale=SCALE))
    assert scorer.score(sample([50.0, 2.0])) is None
    score = scorer.score(sample([61.5, 2.0]))
    assert score is not None
    assert score.value == 1.0
    assert score.label == "temp"
    assert score.evidence["raw_score"] is None
    assert score.evidence["window"] == 2
    assert score.evidence["values"] == {"temp": 61.5, "pressure": 2.0}
    assert score.evidence["out_of_range"] == [
        {"name": "temp", "value": 61.5, "low": None, "high": 55.0, "unit": "°C"}
    ]
    assert score.evidence[HARD_LIMIT] == ["temp"]  # so it alarms on its own (fusion)
    json.dumps(score.evidence)


def test_out_of_range_wins_over_a_normal_model_score(model_path: Path) -> None:
    regs = registers(pressure_low=1.99)
    scorer = SensorScorer("pump-3", config(model_path, regs, threshold=THRESHOLD, scale=SCALE))
    window = normal_windows(np.random.default_rng(42), 1)[0]
    window[-1, 1] = 1.9
    score = feed(scorer, window)[-1]
    assert score.value == 1.0
    assert score.label == "pressure"
    assert score.evidence["raw_score"] is not None


def test_without_a_model_limits_alone_score_every_sample() -> None:
    scorer = SensorScorer("pump-3", config(None, registers(temp_low=10.0)))
    assert scorer.models == []
    first = scorer.score(sample([20.0, 2.0]))
    assert first is not None
    assert (first.value, first.model, first.evidence["raw_score"]) == (0.0, None, None)
    assert HARD_LIMIT not in first.evidence
    cold = scorer.score(sample([5.0, 2.0]))
    assert cold is not None
    assert (cold.value, cold.label) == (1.0, "temp")


def test_label_is_the_most_deviant_register_without_limits() -> None:
    scorer = SensorScorer("pump-3", config(None))
    for i in range(10):
        scorer.score(sample([50.0 + 0.1 * (-1) ** i, 2.0]))  # temp wobbles, pressure steady
    scores = [scorer.score(sample([50.0 + 0.1 * (-1) ** i, 2.5])) for i in range(3)]
    labels = [s.label for s in scores if s is not None]
    # The first 2.5 is a lone 3-sigma outlier, replaced by the median; then it persists.
    assert labels == ["temp", "pressure", "pressure"]


def test_a_single_glitch_is_rejected_before_the_model(model_path: Path) -> None:
    scorer = SensorScorer("pump-3", config(model_path, threshold=THRESHOLD, scale=SCALE))
    window = normal_windows(np.random.default_rng(42), 1)[0]
    window[8, 0] = 500.0  # one bad read of temp
    score = feed(scorer, window)[-1]
    assert score.value < 0.5


def test_calibration_falls_back_to_model_metadata(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(
        forest_onnx, tmp_path / "m.onnx", anomaly_threshold="0.01", anomaly_scale="0.5"
    )
    scorer = SensorScorer("pump-3", config(path))
    score = feed(scorer, normal_windows(np.random.default_rng(42), 1)[0])[-1]
    assert score.value == pytest.approx(calibrate(score.evidence["raw_score"], 0.01, 0.5))
    overridden = SensorScorer("pump-3", config(path, threshold=0.2))
    score = feed(overridden, normal_windows(np.random.default_rng(42), 1)[0])[-1]
    assert score.value == pytest.approx(calibrate(score.evidence["raw_score"], 0.2, 0.5))


def test_missing_calibration_is_a_model_error(model_path: Path) -> None:
    with pytest.raises(ModelError, match=r"anomaly\.threshold"):
        SensorScorer("pump-3", config(model_path, scale=SCALE))
    with pytest.raises(ModelError, match=r"anomaly\.scale"):
        SensorScorer("pump-3", config(model_path, threshold=THRESHOLD))


def test_bad_metadata_calibration_is_a_model_error(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(forest_onnx, tmp_path / "m.onnx", anomaly_threshold="high", anomaly_scale="1")
    with pytest.raises(ModelError, match="not a finite number"):
        SensorScorer("pump-3", config(path))


def test_feature_width_mismatch_is_a_model_error(model_path: Path) -> None:
    three = [*registers(), RegisterConfig(name="flow", address=10)]
    with pytest.raises(
        ModelError, match="takes 10 features per window, but the register map gives 15"
    ):
        SensorScorer("pump-3", config(model_path, three, threshold=THRESHOLD, scale=SCALE))


def test_a_model_without_a_scores_output_is_rejected(tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("Identity", ["features"], ["y"])],
        "not-a-forest",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, [None, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 10])],
    )
    path = tmp_path / "identity.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    with pytest.raises(ModelError, match="expected 'scores'"):
        SensorScorer("pump-3", config(path, threshold=THRESHOLD, scale=SCALE))


def test_an_explicit_session_needs_no_model_in_config(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(forest_onnx, tmp_path / "m.onnx", anomaly_threshold="0", anomaly_scale="0.02")
    scorer = SensorScorer("pump-3", config(None), session=load_session(path))
    assert scorer.models == ["sensor-if@t1"]
    scores = feed(scorer, normal_windows(np.random.default_rng(42), 1)[0])
    assert scores[-2] is None
    assert scores[-1] is not None and scores[-1].evidence["raw_score"] is not None


def test_a_sample_missing_a_register_is_rejected() -> None:
    scorer = SensorScorer("pump-3", config(None))
    with pytest.raises(ValueError, match=r"lacks registers \['pressure'\]"):
        scorer.score(sample([50.0], names=("temp",)))


# --- the model's contract in its metadata: baseline, channels, window, stats, median ---

BASELINE_N = 50
CALIBRATION = {"anomaly_threshold": str(THRESHOLD), "anomaly_scale": str(SCALE)}
SITE_B_MEANS, SITE_B_STDS = np.array([80.0, 7.0]), np.array([2.0, 0.3])


@pytest.fixture(scope="module")
def z_forest_onnx() -> onnx.ModelProto:
    """A forest trained on windows in baseline units (what `standardise=baseline` means)."""
    windows = np.random.default_rng(1).normal(0.0, 1.0, size=(400, WINDOW, 2))
    return export_forest(fit_forest(windows, SMOOTHING))


def baseline_model(proto: onnx.ModelProto, path: Path, **metadata: str) -> Path:
    """The forest with a baseline contract; a metadata value "" drops that key."""
    contract = {
        "channels": json.dumps(["temp", "pressure"]),
        "window": str(WINDOW),
        "standardise": "baseline",
        "baseline_samples": str(BASELINE_N),
        **CALIBRATION,
        **metadata,
    }
    return save_model(proto, path, **{k: v for k, v in contract.items() if v})


def modbus(
    model: Path | None, regs: list[RegisterConfig] | None = None, **fields: Unpack[ModbusFields]
) -> ModbusConfig:
    """A config that leaves window and baseline to the model unless told otherwise."""
    anomaly = None if model is None else SensorAnomalyConfig(model=model)
    return ModbusConfig(
        registers=regs or registers(), smoothing=SMOOTHING, anomaly=anomaly, **fields
    )


def site(rng: np.random.Generator, n: int) -> np.ndarray:
    """n samples of the site the first forest knows."""
    return rng.normal(MEANS, STDS, size=(n, 2))


def test_the_model_learns_a_baseline_before_it_scores(
    z_forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    forest_path = baseline_model(z_forest_onnx, tmp_path / "z.onnx")
    scorer = SensorScorer("pump-3", modbus(forest_path))
    rows = site(np.random.default_rng(3), BASELINE_N + 5)
    scores = feed(scorer, rows)
    assert scores[:BASELINE_N] == [None] * BASELINE_N  # window full long before, yet silent
    first = scores[BASELINE_N]
    assert first is not None and first.evidence["learning"] is False
    centre, spread = baseline_stats(rows[:BASELINE_N])
    window = standardise(rows[BASELINE_N + 1 - WINDOW : BASELINE_N + 1], centre, spread)
    expected = load_session(forest_path).run({"features": features(window)[None, :]})[1]
    assert first.evidence["raw_score"] == pytest.approx(float(np.ravel(expected)[0]), abs=1e-5)
    assert first.value < 0.5


def test_limits_still_apply_while_the_baseline_is_learnt(
    z_forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    scorer = SensorScorer(
        "pump-3",
        modbus(baseline_model(z_forest_onnx, tmp_path / "z.onnx"), registers(temp_high=55.0)),
    )
    assert scorer.score(sample([50.0, 2.0])) is None
    hot = scorer.score(sample([61.5, 2.0]))
    assert hot is not None
    assert (hot.value, hot.label, hot.evidence["raw_score"]) == (1.0, "temp", None)
    assert hot.evidence["learning"] is True


def test_each_installation_is_judged_against_its_own_normal(
    z_forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    """Two sites at different operating points: same verdicts, and a real shift stands out."""
    forest_path = baseline_model(z_forest_onnx, tmp_path / "z.onnx")
    z = np.random.default_rng(8).normal(size=(BASELINE_N + WINDOW, 2))
    z[-4:, 1] += 12.0  # pressure steps up by 12 of its own stds for the last 4 samples
    verdicts = []
    for means, stds in ((MEANS, STDS), (SITE_B_MEANS, SITE_B_STDS)):
        scores = feed(SensorScorer("pump-3", modbus(forest_path)), z * stds + means)
        verdicts.append([(s.value, s.label) for s in scores[BASELINE_N:] if s is not None])
    values = np.array([[v for v, _ in verdict] for verdict in verdicts])
    np.testing.assert_allclose(values[0], values[1], atol=1e-3)
    normal, shifted = values[0][: WINDOW - 4], values[0][-1]
    assert np.median(normal) < 0.5 < shifted
    assert shifted > normal.max()
    assert verdicts[0][-1][1] == "pressure"


def test_config_baseline_samples_sets_the_learning_period(
    z_forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    scorer = SensorScorer(
        "pump-3", modbus(baseline_model(z_forest_onnx, tmp_path / "z.onnx"), baseline_samples=20)
    )
    scores = feed(scorer, site(np.random.default_rng(4), 21))
    assert scores[19] is None and scores[20] is not None


@pytest.mark.parametrize(
    ("metadata", "fields", "message"),
    [
        ({}, {"baseline_samples": 0}, "set baseline_samples > 0"),
        ({"baseline_samples": ""}, {}, "set baseline_samples > 0"),
        ({"standardise": "zscore"}, {}, "standardise='zscore'"),
        ({"standardise": "none"}, {"baseline_samples": 10}, "takes raw values"),
    ],
)
def test_baseline_contradictions_are_model_errors(
    z_forest_onnx: onnx.ModelProto,
    tmp_path: Path,
    metadata: dict[str, str],
    fields: ModbusFields,
    message: str,
) -> None:
    path = baseline_model(z_forest_onnx, tmp_path / "z.onnx", **metadata)
    with pytest.raises(ModelError, match=message):
        SensorScorer("pump-3", modbus(path, **fields))


def test_channels_order_the_model_input_and_other_registers_keep_their_limits(
    forest: IsolationForest, forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(
        forest_onnx,
        tmp_path / "m.onnx",
        channels=json.dumps(["temp", "pressure"]),
        **CALIBRATION,
    )
    flow = RegisterConfig(name="flow", address=20, data_type="float32", high=10.0)
    regs = [flow, *reversed(registers())]  # flow, pressure, temp: not the model's order
    scorer = SensorScorer("pump-3", modbus(path, regs, window=WINDOW))
    window = normal_windows(np.random.default_rng(5), 1)[0]
    names = ("flow", "pressure", "temp")
    rows = [[5.0, p, t] for t, p in window]
    scores = [scorer.score(sample(row, names)) for row in rows]
    expected = forest.decision_function(features(window)[None, :].astype(np.float32))[0]
    assert scores[-1] is not None
    assert scores[-1].evidence["raw_score"] == pytest.approx(expected, abs=1e-5)
    surge = scorer.score(sample([12.0, *rows[-1][1:]], names))
    assert surge is not None and (surge.value, surge.label) == (1.0, "flow")


def test_a_register_the_model_reads_must_be_in_the_register_map(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    channels = json.dumps(["temp", "pressure"])
    path = save_model(forest_onnx, tmp_path / "m.onnx", channels=channels, **CALIBRATION)
    regs = [registers()[0], RegisterConfig(name="flow", address=20)]
    with pytest.raises(ModelError, match=r"reads registers \['pressure'\], which the register"):
        SensorScorer("pump-3", modbus(path, regs, window=WINDOW))


def test_the_model_window_fills_an_unset_config_window(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(forest_onnx, tmp_path / "m.onnx", window=str(WINDOW), **CALIBRATION)
    scorer = SensorScorer("pump-3", modbus(path, window=None))
    scores = feed(scorer, normal_windows(np.random.default_rng(6), 1)[0])
    assert scores[-2] is None and scores[-1] is not None
    assert scores[-1].evidence["window"] == WINDOW


@pytest.mark.parametrize(
    ("metadata", "window", "message"),
    [
        ({"window": "16"}, 20, "trained on windows of 16 samples, but the config sets window: 20"),
        ({}, None, "set window in the config or store 'window'"),
        ({"window": "sixteen"}, None, "'window'='sixteen' is not an integer > 0"),
        ({"window": "16", "smoothing": "5"}, None, "trained with smoothing=5, but the config"),
        ({"window": "16", "features": '["median"]'}, None, "must name stats among"),
    ],
)
def test_model_and_config_contradictions_are_model_errors(
    forest_onnx: onnx.ModelProto,
    tmp_path: Path,
    metadata: dict[str, str],
    window: int | None,
    message: str,
) -> None:
    path = save_model(forest_onnx, tmp_path / "m.onnx", **CALIBRATION, **metadata)
    with pytest.raises(ModelError, match=message):
        SensorScorer("pump-3", modbus(path, window=window))


def test_limits_only_devices_keep_a_32_sample_window() -> None:
    scorer = SensorScorer("pump-3", modbus(None))
    scores = feed(scorer, site(np.random.default_rng(9), 40))
    assert scores[-1] is not None and scores[-1].evidence["window"] == 32


def test_features_metadata_picks_the_stats_the_forest_was_trained_on(tmp_path: Path) -> None:
    windows = normal_windows(np.random.default_rng(12), 300)
    means = np.stack([window_features(smooth(w, 3.0, SMOOTHING), ("mean",)) for w in windows])
    mean_forest = IsolationForest(n_estimators=20, random_state=0).fit(means)
    path = save_model(
        export_forest(mean_forest),
        tmp_path / "mean.onnx",
        features=json.dumps(["mean"]),
        **CALIBRATION,
    )
    scorer = SensorScorer("pump-3", modbus(path, window=WINDOW))
    window = normal_windows(np.random.default_rng(13), 1)[0]
    score = feed(scorer, window)[-1]
    expected = mean_forest.decision_function(
        window_features(smooth(window, 3.0, SMOOTHING), ("mean",))[None, :]
    )[0]
    assert score is not None
    assert score.evidence["raw_score"] == pytest.approx(expected, abs=1e-5)


def test_decision_median_smooths_the_score_over_windows(
    forest_onnx: onnx.ModelProto, tmp_path: Path
) -> None:
    path = save_model(
        forest_onnx,
        tmp_path / "m.onnx",
        decision_median="3",
        **CALIBRATION,
    )
    scorer = SensorScorer("pump-3", modbus(path, window=WINDOW))
    rows = normal_windows(np.random.default_rng(14), 2).reshape(-1, 2)
    rows[WINDOW + 2, 1] += 0.5  # one odd pressure reading, alone in its neighbours
    scores = [s for s in feed(scorer, rows) if s is not None]
    raws = [s.evidence["raw_score"] for s in scores]
    for i, s in enumerate(scores):
        median = float(np.median(raws[max(0, i - 2) : i + 1]))
        assert s.evidence["decision_score"] == pytest.approx(median)
        assert s.value == pytest.approx(calibrate(median, THRESHOLD, SCALE))


def test_another_poll_rate_than_training_is_only_warned_about(
    forest_onnx: onnx.ModelProto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = save_model(forest_onnx, tmp_path / "m.onnx", sample_hz="1", **CALIBRATION)
    SensorScorer("pump-3", modbus(path, window=WINDOW, poll_hz=1.0))
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # info: its backend
    SensorScorer("pump-3", modbus(path, window=WINDOW))  # default poll_hz 10
    assert "trained on 1 Hz samples but the device is polled at 10 Hz" in caplog.text
