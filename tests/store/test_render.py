"""Evidence renderers produce files that ordinary decoders read back, showing what was found."""

from __future__ import annotations

import io
import json
import time

import cv2
import numpy as np
import soundfile

from agent.core.samples import Modality, Sample, Score
from agent.senses.registry import SENSES
from agent.senses.temperature.config import InfraredConfig
from agent.senses.temperature.scorer import TemperatureScorer
from tests.support.thermal_frames import CENTI_KELVIN, frame_with_spot


def sample(modality: Modality, data: np.ndarray | dict[str, float], **meta: object) -> Sample:
    return Sample("pump-01", modality, time.time(), data, dict(meta))


def score(modality: Modality, evidence: dict[str, object], value: float = 0.9) -> Score:
    now = time.time()
    return Score("pump-01", modality, value, "x", evidence, now, now)


def test_camera_frame_is_a_jpeg_with_the_detection_boxed() -> None:
    frame = np.full((120, 160, 3), 90, dtype=np.uint8)
    detections = [{"class": "scratches", "confidence": 0.87, "box": [40.0, 50.0, 100.0, 110.0]}]
    jpeg = SENSES["image"].evidence.render(
        [sample("image", frame)], score("image", {"detections": detections}), None
    )
    image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    assert image.shape == (120, 160, 3)
    edge = image[80, 39:42].astype(int)  # the box's left side, 2 px wide
    inside = image[80, 70].astype(int)
    assert np.abs(edge - 90).max(axis=1).min() > 60  # coloured, not the grey background
    assert np.abs(inside - 90).max() < 12  # the frame itself is left as it was
    label = image[30:50, 40:100]
    assert np.abs(label.astype(int) - 90).max() > 100  # the label's filled background


def test_thermal_frame_is_a_false_colour_png_with_region_and_scale() -> None:
    raw = frame_with_spot(28.0, 120.0)  # 48 x 64, hottest near (33, 44)
    config = InfraredConfig.model_validate(
        {"uri": "x.png", "calibration": CENTI_KELVIN, "hot_threshold_c": 100}
    )
    thermal = sample("temperature", raw)
    evidence = TemperatureScorer("pump-01", config).score(thermal)
    png = SENSES["temperature"].evidence.render([thermal], evidence, config)
    image = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    zoom = 5  # 48 rows are enlarged to 240
    assert image.shape[0] == 48 * zoom
    assert image.shape[1] > 64 * zoom  # the scale bar beside the frame
    inferno = cv2.applyColorMap(np.array([[0, 255]], np.uint8), cv2.COLORMAP_INFERNO)[0]
    cold, hot = inferno[0].astype(int), inferno[1].astype(int)
    assert np.abs(image[2 * zoom, 2 * zoom].astype(int) - cold).max() < 40  # ambient corner
    assert np.abs(image[24 * zoom + 2, 44 * zoom + 2].astype(int) - hot).max() < 40  # the spot
    x, y, width, height = evidence.evidence["regions"][0]["bbox"]
    assert x > 0 and x + width < 64  # a region inside the frame...
    assert (image[(y + height // 2) * zoom, x * zoom] == 255).all()  # ...boxed in white
    bar = image[:, 64 * zoom + 10]
    assert np.abs(bar[0].astype(int) - hot).max() < 10  # the scale: hottest at the top
    assert np.abs(bar[-1].astype(int) - cold).max() < 10


def test_sound_is_a_wav_at_its_own_rate_and_length() -> None:
    rate = 16_000
    window = (0.5 * np.sin(np.linspace(0, 2000 * np.pi, rate // 2))).astype(np.float32)
    wav = SENSES["audio"].evidence.render(
        [sample("audio", window, sample_rate=rate)], score("audio", {}), None
    )
    data, read_rate = soundfile.read(io.BytesIO(wav), dtype="float32")
    assert read_rate == rate
    assert data.shape == (rate // 2,)
    assert np.abs(data - window).max() < 1e-3


def test_sensor_window_is_json_with_every_reading_oldest_first() -> None:
    readings = [sample("sensor", {"pressure": 2.0 + i / 10}) for i in range(5)]
    verdict = score("sensor", {"units": {"pressure": "bar"}, "out_of_range": []})
    document = json.loads(SENSES["sensor"].evidence.render(readings, verdict, None))
    assert [r["values"]["pressure"] for r in document["window"]] == [2.0, 2.1, 2.2, 2.3, 2.4]
    assert document["units"] == {"pressure": "bar"}
    assert document["window"][0]["captured_at"].endswith("Z")
    assert document["score"] == 0.9
