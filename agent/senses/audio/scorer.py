"""Sound scorer: a CNN-LSTM over MFCC sequences, run through ONNX Runtime.

Model contract: one input float32 [1, T, 40] (T dynamic, 10 ms per row, features from
`agent.senses.audio.preprocess.window_features`) and one output [1, C]: logits, or probabilities
when the metadata says `output: probabilities`. Optional metadata: `class_names` (JSON
list), `sample_rate` (Hz the features are computed at) and `min_frames` (shortest T the
model can judge).
"""

from __future__ import annotations

import time

import numpy as np

from agent.core.samples import Sample, Score
from agent.inference.loading import load_session
from agent.inference.metadata import ModelMetadata
from agent.inference.session import InferenceSession, ModelError
from agent.observe.stages import Stage, timed
from agent.senses.audio.config import SENSE, MicrophoneConfig
from agent.senses.audio.preprocess import NUMCEP, NoiseFloor, spectral_subtract, window_features

DEFAULT_MODEL_RATE = 16_000
DEFAULT_SILENCE_DB = -50.0
DEFAULT_MIN_FRAMES = 10  # 0.1 s of sound: less is too little to judge a machine by
SILENCE = "silence"


class SoundScorer:
    """Scores a window by 1 − p(normal class); a window without enough sound scores 0."""

    modality = SENSE

    def __init__(
        self, device: str, config: MicrophoneConfig, session: InferenceSession | None = None
    ) -> None:
        self.device = device
        self._config = config
        self._session = session or load_session(
            config.classifier.model,
            config.classifier.backend,
            f"{device}: sources.microphone.classifier.backend",
        )
        metadata = ModelMetadata.of(self._session)
        self.class_names = _class_names(config, metadata)
        self.model_rate = config.classifier.sample_rate or metadata.integer(
            "sample_rate", DEFAULT_MODEL_RATE
        )
        self.min_frames = metadata.integer("min_frames", DEFAULT_MIN_FRAMES)
        self.silence_db = (
            config.silence_db
            if config.silence_db is not None
            else metadata.number("silence_db", DEFAULT_SILENCE_DB)
        )
        output = metadata.text("output", "logits")
        if output not in ("logits", "probabilities"):
            raise metadata.error("output", "must be logits or probabilities")
        self._outputs_probabilities = output == "probabilities"
        self._normal = self.class_names.index(config.classifier.normal_class)
        self.models = [self._session.version]
        self._noise: NoiseFloor | None = None
        self._probabilities(np.zeros((self.min_frames, NUMCEP), dtype=np.float32))

    def score(self, sample: Sample) -> Score:
        """Denoise, gate silence, MFCC, classify; blocking CPU work."""
        if not isinstance(sample.data, np.ndarray):
            raise TypeError(f"audio sample data must be an ndarray, got {type(sample.data)}")
        rate = int(sample.meta.get("sample_rate", self._config.sample_rate))
        if rate < self.model_rate:  # upsampling cannot restore the band the model listens to
            raise ValueError(
                f"audio sampled at {rate} Hz, below the model's {self.model_rate} Hz: "
                "record or resample at the model's rate"
            )
        with timed(Stage.PREPROCESS):
            signal = np.asarray(sample.data, dtype=np.float32)
            if self._config.spectral_subtraction:
                signal = self._denoise(signal, rate)
            features = window_features(signal, rate, self.model_rate, self.silence_db)
        evidence: dict[str, object] = {
            "duration_s": round(signal.size / rate, 3),
            "voiced_s": round(features.voiced_s, 3),
            "sample_rate": rate,
        }
        if features.mfcc.shape[0] < self.min_frames:
            return self._result(sample, 0.0, SILENCE, {"probabilities": {}, **evidence}, None)
        probabilities = self._probabilities(features.mfcc)
        by_class = {
            name: round(float(p), 4)
            for name, p in zip(self.class_names, probabilities, strict=True)
        }
        label = self.class_names[int(np.argmax(probabilities))]
        value = float(np.clip(1.0 - probabilities[self._normal], 0.0, 1.0))
        return self._result(
            sample, value, label, {"probabilities": by_class, **evidence}, self.models[0]
        )

    def _denoise(self, signal: np.ndarray, rate: int) -> np.ndarray:
        """Learn the background at this rate (relearn if the rate changes), then subtract it."""
        if self._noise is None or self._noise.rate != rate:
            self._noise = NoiseFloor(rate)
        self._noise.update(signal)
        return spectral_subtract(signal, self._noise)

    def _probabilities(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities for one [T, 40] sequence; checks the model's class count."""
        try:
            outputs = self._session.run({self._session.input_names[0]: features[np.newaxis]})
        except Exception as exc:  # ORT raises its own untyped errors
            raise ModelError(f"sound model {self.models[0]} failed: {exc}") from exc
        raw = np.asarray(outputs[0], dtype=np.float64).reshape(-1)
        if raw.size != len(self.class_names):
            raise ModelError(
                f"sound model {self.models[0]} outputs {raw.size} classes "
                f"but {len(self.class_names)} class names are configured: {self.class_names}"
            )
        if self._outputs_probabilities:
            clipped = np.clip(raw, 0.0, None)
            return clipped / max(float(clipped.sum()), np.finfo(np.float64).tiny)
        exp = np.exp(raw - raw.max())
        return exp / exp.sum()

    def _result(
        self,
        sample: Sample,
        value: float,
        label: str,
        evidence: dict[str, object],
        model: str | None,
    ) -> Score:
        return Score(
            device=self.device,
            modality=self.modality,
            value=value,
            label=label,
            evidence=evidence,
            captured_at=sample.captured_at,
            scored_at=time.time(),
            model=model,
        )


def _class_names(config: MicrophoneConfig, metadata: ModelMetadata) -> list[str]:
    """Configured names win over the model's metadata; the normal class must be one of them."""
    names = config.classifier.class_names or metadata.str_list("class_names")
    if not names:
        raise ModelError("sound model has no class names: set classifier.class_names")
    normal = config.classifier.normal_class
    if normal not in names:
        raise ModelError(f"normal_class {normal!r} is not among the class names {names}")
    return names
