"""Config of the four source kinds, each with its preprocessing and scorer settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from agent.config.base import (
    Backend,
    BatchSize,
    PositiveFloat,
    Probability,
    ReadableFile,
    StrictModel,
    resolve_local_uri,
)


class DetectorConfig(StrictModel):
    """YOLOv8 ONNX detector; class names fall back to the model's own metadata."""

    model: ReadableFile
    backend: Backend = "auto"
    class_names: list[str] | None = None
    confidence: Probability = 0.25
    class_confidence: dict[str, Probability] = Field(default_factory=dict)
    iou: Probability = 0.45
    max_detections: int = Field(default=100, ge=1)
    # frames of cameras sharing this model file, ready at the same moment, run as one batch of
    # at most this many; 1 gives the camera a session of its own and never batches;
    # auto: 8 on a GPU backend, 1 on the CPU, where parallel sessions were measured faster
    max_batch: BatchSize = "auto"


class CameraConfig(StrictModel):
    """An OpenCV capture: file path, RTSP/HTTP URL, USB index ("0") or GStreamer pipeline."""

    uri: str = Field(min_length=1)
    fps: PositiveFloat = 2.0
    loop: bool = False
    denoise_sigma: float = Field(default=0.0, ge=0.0)  # match the training: 0 for ours
    frame_size: tuple[int, int] | None = (640, 480)  # None keeps the camera's own size
    reopen_after_s: PositiveFloat = 5.0
    detector: DetectorConfig

    _local_uri = field_validator("uri")(resolve_local_uri)


class ThermalCalibration(StrictModel):
    """Per-pixel linear calibration temp_c = a * raw + b of a radiometric 16-bit frame."""

    a: float = 0.01
    b: float = -273.15


class TemperatureScorerConfig(StrictModel):
    """Score 0 at or below warn_c, rising linearly to 1 at limit_c."""

    warn_c: float = 60.0
    limit_c: float = 90.0

    @model_validator(mode="after")
    def _ordered(self) -> TemperatureScorerConfig:
        if self.limit_c <= self.warn_c:
            raise ValueError("limit_c must be above warn_c")
        return self


class InfraredConfig(StrictModel):
    """Radiometric frames from a 16-bit image sequence (glob) or a Y16 capture device."""

    uri: str = Field(min_length=1)
    format: Literal["sequence", "y16"] = "sequence"
    fps: PositiveFloat = 1.0
    loop: bool = False
    calibration: ThermalCalibration = ThermalCalibration()
    hot_threshold_c: float = 60.0
    min_region_px: int = Field(default=4, ge=1)
    scorer: TemperatureScorerConfig = TemperatureScorerConfig()

    _local_uri = field_validator("uri")(resolve_local_uri)


class SoundClassifierConfig(StrictModel):
    """CNN-LSTM over MFCC; class names and sample rate fall back to ONNX metadata."""

    model: ReadableFile
    backend: Backend = "auto"
    class_names: list[str] | None = None
    normal_class: str = "normal"
    sample_rate: int | None = Field(default=None, gt=0)


class MicrophoneConfig(StrictModel):
    """Live capture (sounddevice) when `device` is set, else a WAV/FLAC file replayed live."""

    device: str | int | None = None
    file: ReadableFile | None = None
    loop: bool = False
    sample_rate: int = Field(default=48_000, gt=0)
    window_s: PositiveFloat = 1.0
    silence_db: float | None = Field(default=None, le=0.0)  # None: the model's own gate
    spectral_subtraction: bool = False  # on for machines with quiet pauses; see the example
    classifier: SoundClassifierConfig

    @model_validator(mode="after")
    def _one_input(self) -> MicrophoneConfig:
        if (self.device is None) == (self.file is None):
            raise ValueError("set exactly one of `device` (live capture) or `file` (replay)")
        return self


DataType = Literal["int16", "uint16", "int32", "uint32", "float32", "bool"]


class RegisterConfig(StrictModel):
    """One value in the device's register map, in the spirit of Telegraf's modbus input."""

    name: str = Field(min_length=1)
    address: int = Field(ge=0, le=65535)
    kind: Literal["holding", "input", "coil", "discrete"] = "holding"
    data_type: DataType = "uint16"
    byte_order: Literal["big", "little"] = "big"
    word_order: Literal["big", "little"] = "big"
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""
    low: float | None = None
    high: float | None = None

    @model_validator(mode="after")
    def _bits_are_bool(self) -> RegisterConfig:
        bit_kind = self.kind in ("coil", "discrete")
        if bit_kind != (self.data_type == "bool"):
            raise ValueError("coil/discrete registers take data_type bool, and only they do")
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ValueError("low must be below high")
        return self


class SensorAnomalyConfig(StrictModel):
    """Isolation Forest over window features, exported with skl2onnx."""

    model: ReadableFile
    backend: Backend = "auto"
    threshold: float | None = None
    scale: PositiveFloat | None = None


class ModbusConfig(StrictModel):
    """A Modbus TCP or RTU device polled at `poll_hz`, with its register map.

    `window` and `baseline_samples` left unset take the anomaly model's own values from
    its metadata (agent.senses.sensor.scorer); a limits-only device uses a 32-sample window.
    """

    transport: Literal["tcp", "rtu"] = "tcp"
    host: str = "127.0.0.1"
    port: int = Field(default=502, ge=1, le=65535)
    serial_port: str | None = None
    baudrate: int = Field(default=19200, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    unit_id: int = Field(default=1, ge=0, le=247)
    poll_hz: PositiveFloat = 10.0
    timeout_s: PositiveFloat = 1.0
    retries: int = Field(default=2, ge=0)
    registers: list[RegisterConfig] = Field(min_length=1)
    max_gap: int = Field(default=8, ge=0)  # unmapped words one read may span; 0 if strict
    window: int | None = Field(default=None, ge=4)  # samples; None: the model's, else 32
    baseline_samples: int | None = Field(default=None, ge=0)  # learning period; None: model's
    outlier_sigma: PositiveFloat = 3.0
    smoothing: int = Field(default=5, ge=1)
    anomaly: SensorAnomalyConfig | None = None

    @model_validator(mode="after")
    def _transport_fields(self) -> ModbusConfig:
        if self.transport == "rtu" and not self.serial_port:
            raise ValueError("transport rtu needs serial_port")
        names = [r.name for r in self.registers]
        if len(set(names)) != len(names):
            raise ValueError("register names must be unique")
        return self


class SourcesConfig(StrictModel):
    """Up to one source of each kind per device."""

    camera: CameraConfig | None = None
    infrared: InfraredConfig | None = None
    microphone: MicrophoneConfig | None = None
    modbus: ModbusConfig | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> SourcesConfig:
        if not any((self.camera, self.infrared, self.microphone, self.modbus)):
            raise ValueError("a device needs at least one source")
        return self
