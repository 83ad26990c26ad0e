"""Sensor scorer: register limits on every sample, Isolation Forest on full windows.

The model is a scikit-learn IsolationForest exported to ONNX (the shipped one by skl2onnx, a
learned one by agent/senses/sensor/forest_onnx.py). Its graph has two
outputs, `label` (1 inlier, -1 outlier) and `scores`, which equals sklearn's
`decision_function`: `score_samples - offset_`, positive for normal windows, negative for
anomalous ones, 0 at the forest's own contamination cut. We read `scores` as the raw score
and calibrate it with p = 1 / (1 + exp((raw - threshold) / scale)), so lower (more
anomalous) raw scores give p -> 1 and p is exactly 0.5 at the threshold. The training tool
stores `anomaly_threshold` (0 reproduces sklearn's own cut) and `anomaly_scale` in the ONNX
metadata; `anomaly.threshold` / `anomaly.scale` in the config override them.

The rest of the model's contract is optional metadata too, so a bare forest still works
(all registers in config order, five stats each, raw values, config window):

- `channels`: JSON list of the registers the model reads, in feature order. Others are only
  checked against their limits; a config lacking one of them is a ModelError.
- `window`: samples per window; overrides an unset config `window`, contradicts a set one.
- `features`: JSON list of the window stats per channel (see FEATURE_STATS).
- `standardise` = "baseline" and `baseline_samples`: the model takes values in units of the
  installation's own normal. The scorer spends its first `baseline_samples` samples (config
  `baseline_samples` overrides the length) learning per-register median and spread, scores
  nothing with the model meanwhile (limits still apply), then standardises every window.
- `decision_median`: the calibrated score uses the median raw score of the last n windows.
- `smoothing`, `outlier_sigma`: what training used; a config that sets others is a ModelError.
- `sample_hz`: the rate of the training data. Windows count samples, so another `poll_hz`
  changes the time a window spans; that is only warned about, because replaying recorded
  data faster than real time (the demo) is a legitimate reason for it.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass

import numpy as np

from agent.core.samples import HARD_LIMIT, Sample, Score
from agent.inference.loading import load_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.observe.stages import Stage, timed
from agent.senses.sensor.config import SENSE, ModbusConfig
from agent.senses.sensor.limits import breaches, readings, sample_values
from agent.senses.sensor.preprocess import (
    FEATURE_STATS,
    baseline_stats,
    feature_names,
    smooth,
    standardise,
    window_features,
)

log = logging.getLogger(__name__)
RATE_MISMATCH = "sample_rate_mismatch"  # the log event when polling differs from training

SCORE_OUTPUT = "scores"
LIMITS_WINDOW = 32  # samples behind the label of a limits-only device
BASELINE = "baseline"


def calibrate(raw: float, threshold: float, scale: float) -> float:
    """Logistic map of a decision score to [0, 1]: 0.5 at threshold, -> 1 as raw falls."""
    z = (raw - threshold) / scale
    if z >= 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


@dataclass(frozen=True, slots=True)
class ModelSpec:
    """What a sensor model expects, resolved from its metadata and the device config."""

    columns: list[int]  # register positions (config order) of the model's channels
    stats: tuple[str, ...]
    window: int
    baseline_samples: int  # 0: the model takes raw values
    decision_median: int
    threshold: float
    scale: float


@dataclass(frozen=True, slots=True)
class SensorModel:
    """A loaded forest with its resolved contract."""

    session: InferenceSession
    spec: ModelSpec

    def raw_score(self, smoothed: np.ndarray) -> float:
        """The forest's decision score of one (smoothed, all-register) window; > 0 is normal."""
        features = window_features(smoothed[:, self.spec.columns], self.spec.stats)
        return float(decisions(self.session, features[None, :])[0])


def decisions(session: InferenceSession, features: np.ndarray) -> np.ndarray:
    """The forest's decision score of each row of `features` (sklearn's decision_function:
    > 0 normal, < 0 anomalous), through the model's ONNX session."""
    outputs = session.run({session.input_names[0]: features})
    return np.ravel(outputs[session.output_names.index(SCORE_OUTPUT)])


class SensorScorer:
    """Scores each Modbus sample from its register limits and the window it completes."""

    modality = SENSE

    def __init__(
        self, device: str, config: ModbusConfig, session: InferenceSession | None = None
    ) -> None:
        self.device = device
        self.config = config
        self._registers = list(config.registers)
        if session is None and config.anomaly is not None:
            session = load_session(
                config.anomaly.model,
                config.anomaly.backend,
                f"{device}: sources.modbus.anomaly.backend",
            )
        self.models = [session.version] if session is not None else []
        self._model = None if session is None else load_model(session, config)
        spec = self._model.spec if self._model is not None else None
        window = spec.window if spec is not None else config.window or LIMITS_WINDOW
        self._window: deque[list[float]] = deque(maxlen=window)
        self._baseline_samples = spec.baseline_samples if spec is not None else 0
        self._learning: list[list[float]] = []
        self._baseline: tuple[np.ndarray, np.ndarray] | None = None
        self._raw_scores: deque[float] = deque(maxlen=spec.decision_median if spec else 1)

    def score(self, sample: Sample) -> Score | None:
        """A Score for this sample, or None while the model waits and all is in range.

        The model waits while it learns the baseline and while the window fills.
        """
        latest = sample_values(self.device, self._registers, sample)
        self._window.append(latest)
        learning = self._learn(latest)
        out_of_range = breaches(self._registers, latest)
        model = self._model
        ready = not learning and len(self._window) == self._window.maxlen
        if model is not None and not ready and not out_of_range:
            return None
        smoothed = self._smoothed()
        raw = decision = None
        model_score = 0.0
        if model is not None and ready:
            raw = model.raw_score(smoothed)
            self._raw_scores.append(raw)
            decision = float(np.median(self._raw_scores))  # of the last decision_median
            model_score = calibrate(decision, model.spec.threshold, model.spec.scale)
        value = max(model_score, 1.0 if out_of_range else 0.0)
        label = out_of_range[0]["name"] if out_of_range else self._most_deviant(smoothed)
        return Score(
            device=self.device,
            modality=SENSE,
            value=value,
            label=label,
            evidence={
                **readings(self._registers, latest),
                "out_of_range": out_of_range,
                "raw_score": raw,
                "decision_score": decision,
                "learning": learning,
                "window": len(self._window),
                # a register past its low/high alarms on its own (fusion)
                **({HARD_LIMIT: [o["name"] for o in out_of_range]} if out_of_range else {}),
            },
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0] if self.models else None,
        )

    def _learn(self, latest: list[float]) -> bool:
        """Collect the baseline; True while this sample still belongs to the learning period."""
        if self._baseline_samples == 0 or self._baseline is not None:
            return False
        self._learning.append(latest)
        if len(self._learning) == self._baseline_samples:
            self._baseline = baseline_stats(np.array(self._learning))
            self._learning = []
        return True

    def _smoothed(self) -> np.ndarray:
        """The window as the model sees it: in baseline units once learnt, cleaned, smoothed."""
        with timed(Stage.PREPROCESS):
            window = np.array(self._window, dtype=np.float64)
            if self._baseline is not None:
                window = standardise(window, *self._baseline)
            return smooth(window, self.config.outlier_sigma, self.config.smoothing)

    def _most_deviant(self, smoothed: np.ndarray) -> str:
        """The register that moved most: from its baseline if learnt, else within the window.

        With a baseline, the model channel whose window mean lies most baseline units away;
        without, the register whose latest value is most window stds from the window mean.
        """
        if self._baseline is not None and self._model is not None:
            columns = self._model.spec.columns
            shift = np.abs(smoothed[:, columns].mean(axis=0))
            return self._registers[columns[int(np.argmax(shift))]].name
        std = smoothed.std(axis=0)
        deviation = np.abs(smoothed[-1] - smoothed.mean(axis=0))
        ratio = np.divide(deviation, std, out=np.zeros_like(std), where=std > 0)
        return self._registers[int(np.argmax(ratio))].name


def load_model(session: InferenceSession, config: ModbusConfig) -> SensorModel:
    """The session with its contract; fails at startup, not on the first full window."""
    require_decisions(session)
    spec = model_spec(session, config)
    _check_width(session, spec, [config.registers[i].name for i in spec.columns])
    return SensorModel(session, spec)


def require_decisions(session: InferenceSession) -> None:
    """A forest model must output the decision function `decisions` reads."""
    if SCORE_OUTPUT not in session.output_names:
        raise ModelError(
            f"model {session.version} has outputs {session.output_names}, expected "
            f"{SCORE_OUTPUT!r} (an IsolationForest's decision function)"
        )


def _check_width(session: InferenceSession, spec: ModelSpec, names: list[str]) -> None:
    """The model's input width against the feature vector the register map gives.

    A symbolic (dynamic) input width cannot be checked here; ONNX Runtime then rejects
    a wrong width on the first full window.
    """
    width = len(feature_names(names, spec.stats))
    declared = session.input_shapes[0][-1] if session.input_shapes[0] else None
    if isinstance(declared, int) and declared != width:
        raise ModelError(
            f"model {session.version} takes {declared} features per window, but the "
            f"register map gives {width} ({len(spec.stats)} per register x "
            f"{len(names)}: {names})"
        )


def model_spec(session: InferenceSession, config: ModbusConfig) -> ModelSpec:
    """Resolve the model's metadata against the config; any contradiction is a ModelError."""
    metadata = ModelMetadata.of(session)
    _check_agrees(metadata, "smoothing", config.smoothing)
    _check_agrees(metadata, "outlier_sigma", config.outlier_sigma)
    _warn_on_rate(metadata, config.poll_hz)
    threshold, scale = _threshold_and_scale(metadata, config)
    return ModelSpec(
        columns=_columns(metadata, config),
        stats=_stats(metadata),
        window=_window(metadata, config),
        baseline_samples=_baseline_samples(metadata, config),
        decision_median=metadata.integer("decision_median", 1),
        threshold=threshold,
        scale=scale,
    )


def _columns(metadata: ModelMetadata, config: ModbusConfig) -> list[int]:
    """Config positions of the model's channels; all registers when it names none."""
    names = [r.name for r in config.registers]
    channels = metadata.str_list("channels")
    if channels is None:
        return list(range(len(names)))
    missing = [c for c in channels if c not in names]
    if missing:
        raise ModelError(
            f"model {metadata.model} reads registers {missing}, which the register map "
            f"lacks (it has {names})"
        )
    return [names.index(c) for c in channels]


def _stats(metadata: ModelMetadata) -> tuple[str, ...]:
    """The window stats per channel the model was trained on."""
    stats = metadata.str_list("features")
    if stats is None:
        return FEATURE_STATS
    unknown = [s for s in stats if s not in FEATURE_STATS]
    if unknown or not stats:
        raise ModelError(
            f"model {metadata.model}: metadata 'features' {stats} must name stats among "
            f"{list(FEATURE_STATS)}"
        )
    return tuple(stats)


def _window(metadata: ModelMetadata, config: ModbusConfig) -> int:
    """The model's window, the config's when the model has none; both must agree if set."""
    declared = metadata.integer("window")
    if declared is not None and config.window is not None and declared != config.window:
        raise ModelError(
            f"model {metadata.model} was trained on windows of {declared} samples, but the "
            f"config sets window: {config.window} (leave it unset to use the model's)"
        )
    window = declared or config.window
    if window is None:
        raise ModelError(
            f"model {metadata.model}: set window in the config or store 'window' in the "
            "model metadata"
        )
    return window


def _baseline_samples(metadata: ModelMetadata, config: ModbusConfig) -> int:
    """Length of the learning period: 0 for a raw-value model, else config or metadata."""
    mode = metadata.text("standardise", "none")
    if mode not in (BASELINE, "none"):
        raise ModelError(
            f"model {metadata.model}: metadata standardise={mode!r}, expected 'baseline' or 'none'"
        )
    configured = config.baseline_samples
    if mode == "none":
        if configured:
            raise ModelError(
                f"model {metadata.model} takes raw values; remove baseline_samples: "
                f"{configured} from the config"
            )
        return 0
    samples = configured if configured is not None else metadata.integer("baseline_samples")
    if not samples:
        raise ModelError(
            f"model {metadata.model} takes values standardised on a baseline: set "
            "baseline_samples > 0 in the config or store it in the model metadata"
        )
    return samples


def _threshold_and_scale(metadata: ModelMetadata, config: ModbusConfig) -> tuple[float, float]:
    """Threshold and scale from config, else from the model's metadata."""
    anomaly = config.anomaly
    threshold = anomaly.threshold if anomaly is not None else None
    scale = anomaly.scale if anomaly is not None else None
    if threshold is None:
        threshold = _calibration(metadata, "anomaly_threshold")
    if scale is None:
        scale = _calibration(metadata, "anomaly_scale")
    if scale <= 0:
        raise ModelError(f"model {metadata.model}: anomaly_scale must be > 0, got {scale}")
    return threshold, scale


def _calibration(metadata: ModelMetadata, key: str) -> float:
    """`anomaly_threshold` or `anomaly_scale`; its absence means the config must supply it."""
    value = metadata.number(key)
    if value is None:
        raise ModelError(
            f"model {metadata.model}: set anomaly.{key.removeprefix('anomaly_')} in the "
            f"config or store {key!r} in the model metadata"
        )
    return value


def _check_agrees(metadata: ModelMetadata, key: str, configured: float) -> None:
    """A preprocessing value the model was trained with must be the one the config runs."""
    trained = metadata.number(key)
    if trained is not None and not math.isclose(trained, configured):
        raise ModelError(
            f"model {metadata.model} was trained with {key}={trained:g}, but the config "
            f"sets {key}: {configured:g}"
        )


def _warn_on_rate(metadata: ModelMetadata, poll_hz: float) -> None:
    """Say so when windows will span another time than in training."""
    trained = metadata.number("sample_hz")
    if trained is not None and not math.isclose(trained, poll_hz):
        log.warning(
            "model %s was trained on %g Hz samples but the device is polled at %g Hz: its "
            "windows span %gx the trained time (fine when replaying recordings faster)",
            metadata.model,
            trained,
            poll_hz,
            trained / poll_hz,
            extra={"fields": {"event": RATE_MISMATCH, "model": metadata.model}},
        )
