"""Config of the audio sense: the microphone and the sound classifier."""

from __future__ import annotations

from pydantic import Field, model_validator

from agent.config.base import (
    Backend,
    FiniteFloat,
    ReadableFile,
    StrictModel,
)

SENSE = "audio"
MAX_SAMPLE_RATE = 768_000
MAX_WINDOW_S = 60.0  # one window is held in memory: a minute at 48 kHz is 11 MB


class SoundClassifierConfig(StrictModel):
    """CNN-LSTM over MFCC; class names and sample rate fall back to ONNX metadata."""

    model: ReadableFile
    backend: Backend = "auto"
    class_names: list[str] | None = None
    normal_class: str = "normal"
    sample_rate: int | None = Field(default=None, gt=0, le=MAX_SAMPLE_RATE)


class MicrophoneConfig(StrictModel):
    """Live capture (sounddevice) when `device` is set, else a WAV/FLAC file replayed live."""

    device: str | int | None = None
    file: ReadableFile | None = None
    loop: bool = False
    sample_rate: int = Field(default=48_000, gt=0, le=MAX_SAMPLE_RATE)
    window_s: float = Field(default=1.0, gt=0.0, le=MAX_WINDOW_S, allow_inf_nan=False)
    silence_db: FiniteFloat | None = Field(default=None, le=0.0)  # None: the model's own gate
    spectral_subtraction: bool = False  # on for machines with quiet pauses; see the example
    classifier: SoundClassifierConfig

    @model_validator(mode="after")
    def _one_input(self) -> MicrophoneConfig:
        if (self.device is None) == (self.file is None):
            raise ValueError("set exactly one of `device` (live capture) or `file` (replay)")
        return self
