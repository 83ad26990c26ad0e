"""Config of the image sense: the camera and the YOLOv8 detector that judges its frames."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, field_validator

from agent.config.base import (
    Backend,
    BatchSize,
    FiniteFloat,
    Probability,
    RateHz,
    ReadableFile,
    Seconds,
    StrictModel,
    resolve_local_uri,
)

SENSE = "image"
DEFAULT_CONFIDENCE = 0.25  # for a model that ships no thresholds (Ultralytics' own default)
FrameSide = Annotated[int, Field(ge=1, le=16_384)]  # pixels; 16K is past any camera's side


class DetectorConfig(StrictModel):
    """YOLOv8 ONNX detector; class names and thresholds fall back to the model's own metadata.

    A class's threshold is `class_confidence[class]`, else `confidence`, else the one shipped
    in the model (chosen on defect-free steel, see its card), else DEFAULT_CONFIDENCE.
    """

    model: ReadableFile
    backend: Backend = "auto"
    class_names: list[str] | None = None
    confidence: Probability | None = None  # None: the model's shipped per-class thresholds
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
    fps: RateHz = 2.0
    loop: bool = False
    denoise_sigma: FiniteFloat = Field(default=0.0, ge=0.0)  # match the training: 0 for ours
    # None keeps the camera's own size
    frame_size: tuple[FrameSide, FrameSide] | None = (640, 480)
    reopen_after_s: Seconds = 5.0
    detector: DetectorConfig

    _local_uri = field_validator("uri")(resolve_local_uri)
