"""Sensor scorer: register limits on every sample, Isolation Forest on full windows.

The model is a scikit-learn IsolationForest exported with skl2onnx. Its graph has two
outputs, `label` (1 inlier, -1 outlier) and `scores`, which equals sklearn's
`decision_function`: `score_samples - offset_`, positive for normal windows, negative for
anomalous ones, 0 at the forest's own contamination cut. We read `scores` as the raw score
and calibrate it with p = 1 / (1 + exp((raw - threshold) / scale)), so lower (more
anomalous) raw scores give p -> 1 and p is exactly 0.5 at the threshold. The training tool
stores `anomaly_threshold` (0 reproduces sklearn's own cut) and `anomaly_scale` in the ONNX
metadata; `anomaly.threshold` / `anomaly.scale` in the config override them.
"""

from __future__ import annotations

import math
import time
from collections import deque
from typing import Any

import numpy as np

from agent.config.sources import ModbusConfig, RegisterConfig
from agent.inference.session import InferenceSession, ModelError, load_session
from agent.preprocess.sensor import (
    feature_names,
    moving_average,
    reject_outliers,
    window_features,
)
from agent.samples import Modality, Sample, Score

SCORE_OUTPUT = "scores"


def calibrate(raw: float, threshold: float, scale: float) -> float:
    """Logistic map of a decision score to [0, 1]: 0.5 at threshold, -> 1 as raw falls."""
    z = (raw - threshold) / scale
    if z >= 0:
        e = math.exp(-z)
        return e / (1.0 + e)
    return 1.0 / (1.0 + math.exp(z))


class SensorScorer:
    """Scores each Modbus sample from its register limits and the window it completes."""

    modality = Modality.SENSOR

    def __init__(
        self, device: str, config: ModbusConfig, session: InferenceSession | None = None
    ) -> None:
        self.device = device
        self.config = config
        self._registers = list(config.registers)
        self._window: deque[list[float]] = deque(maxlen=config.window)
        if session is None and config.anomaly is not None:
            session = load_session(config.anomaly.model)
        self._session = session
        self.models = [session.version] if session is not None else []
        if session is not None:
            self._input = session.input_names[0]
            self._threshold, self._scale = self._calibration(session)
            self._check_model(session)

    def score(self, sample: Sample) -> Score | None:
        """A Score for this sample, or None while the window fills and all is in range."""
        latest = self._values(sample)
        self._window.append(latest)
        out_of_range = [
            _limit_evidence(reg, value)
            for reg, value in zip(self._registers, latest, strict=True)
            if _outside(reg, value)
        ]
        full = len(self._window) == self.config.window
        session = self._session
        if session is not None and not full and not out_of_range:
            return None
        smoothed = self._smoothed()
        raw = self._raw_score(session, smoothed) if session is not None and full else None
        model_score = 0.0 if raw is None else calibrate(raw, self._threshold, self._scale)
        value = max(model_score, 1.0 if out_of_range else 0.0)
        label = out_of_range[0]["name"] if out_of_range else self._most_deviant(smoothed)
        return Score(
            device=self.device,
            modality=Modality.SENSOR,
            value=value,
            label=label,
            evidence={
                "values": {r.name: v for r, v in zip(self._registers, latest, strict=True)},
                "units": {r.name: r.unit for r in self._registers},
                "out_of_range": out_of_range,
                "raw_score": raw,
                "window": len(self._window),
            },
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=self.models[0] if self.models else None,
        )

    def _values(self, sample: Sample) -> list[float]:
        """The sample's register values in config order; a missing register is a bug upstream."""
        if not isinstance(sample.data, dict):
            raise TypeError(f"{self.device}: sensor sample data must be a dict of registers")
        missing = [r.name for r in self._registers if r.name not in sample.data]
        if missing:
            raise ValueError(f"{self.device}: sample lacks registers {missing}")
        return [float(sample.data[r.name]) for r in self._registers]

    def _smoothed(self) -> np.ndarray:
        """The window as the model sees it: outliers rejected, then moving-averaged."""
        window = np.array(self._window, dtype=np.float64)
        cleaned = reject_outliers(window, self.config.outlier_sigma)
        return moving_average(cleaned, self.config.smoothing)

    def _raw_score(self, session: InferenceSession, smoothed: np.ndarray) -> float:
        """The forest's decision score of one window (positive = normal)."""
        outputs = session.run({self._input: window_features(smoothed)[None, :]})
        return float(np.ravel(outputs[session.output_names.index(SCORE_OUTPUT)])[0])

    def _most_deviant(self, smoothed: np.ndarray) -> str:
        """The register whose latest smoothed value is most window stds from its window mean."""
        std = smoothed.std(axis=0)
        deviation = np.abs(smoothed[-1] - smoothed.mean(axis=0))
        ratio = np.divide(deviation, std, out=np.zeros_like(std), where=std > 0)
        return self._registers[int(np.argmax(ratio))].name

    def _calibration(self, session: InferenceSession) -> tuple[float, float]:
        """Threshold and scale from config, else from the model's metadata."""
        anomaly = self.config.anomaly
        threshold = anomaly.threshold if anomaly is not None else None
        scale = anomaly.scale if anomaly is not None else None
        if threshold is None:
            threshold = _metadata_float(session, "anomaly_threshold")
        if scale is None:
            scale = _metadata_float(session, "anomaly_scale")
        if scale <= 0:
            raise ModelError(f"model {session.version}: anomaly_scale must be > 0, got {scale}")
        return threshold, scale

    def _check_model(self, session: InferenceSession) -> None:
        """Fail at startup, not on the first full window, when model and config disagree.

        A symbolic (dynamic) input width cannot be checked here; ONNX Runtime then rejects
        a wrong width on the first full window.
        """
        if SCORE_OUTPUT not in session.output_names:
            raise ModelError(
                f"model {session.version} has outputs {session.output_names}, expected "
                f"{SCORE_OUTPUT!r} (skl2onnx IsolationForest decision function)"
            )
        names = [r.name for r in self._registers]
        width = len(feature_names(names))
        declared = session.input_shapes[0][-1] if session.input_shapes[0] else None
        if isinstance(declared, int) and declared != width:
            raise ModelError(
                f"model {session.version} takes {declared} features per window, but the "
                f"register map gives {width} (5 per register x {len(names)}: {names})"
            )


def _outside(reg: RegisterConfig, value: float) -> bool:
    """Whether a value breaks the register's configured limits."""
    return (reg.low is not None and value < reg.low) or (reg.high is not None and value > reg.high)


def _limit_evidence(reg: RegisterConfig, value: float) -> dict[str, Any]:
    """One out-of-range entry of a Score's evidence."""
    return {"name": reg.name, "value": value, "low": reg.low, "high": reg.high, "unit": reg.unit}


def _metadata_float(session: InferenceSession, key: str) -> float:
    """A float from ONNX metadata; its absence means the config must supply it."""
    raw = session.metadata.get(key)
    if raw is None:
        raise ModelError(
            f"model {session.version}: set anomaly.{key.removeprefix('anomaly_')} in the "
            f"config or store {key!r} in the model metadata"
        )
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ModelError(
            f"model {session.version}: metadata {key!r}={raw!r} is not a finite number"
        )
    return value
