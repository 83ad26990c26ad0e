"""The shipped models in the real agent, through the real broker: abnormal in, alarm out.

One device per input, each watching with one sense (so that sense carries the whole weight):
a held-out defect image, a hot thermal frame and a held-out bearing-fault clip must each
raise an alarm; a defect-free frame, an ambient frame and a normal clip must not. The sensor
model's turn is in the demo test (valve-03) and tests/evaluate/test_sensor_eval.py.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import cv2
import pytest

from agent.config.loader import parse_config
from agent.inference.models import models_dir
from agent.runtime.agent import Agent
from tests.support.mqtt import subscribe
from tests.support.thermal_frames import frame_with_spot, infrared_source

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).parent / "fixtures"
DEMO_SAMPLES = Path(__file__).parents[1] / "agent" / "apps" / "demo" / "samples"
MODELS = models_dir()


def defect_video(path: Path) -> Path:
    """The held-out defect fixtures as a real MJPG video, 2 s per image."""
    images = sorted((FIXTURES / "defects" / "images" / "val").glob("*.jpg"))
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), 5, (200, 200))
    for image in images:
        frame = cv2.imread(str(image))
        assert frame is not None
        for _ in range(10):
            writer.write(frame)
    writer.release()
    return path


def camera(uri: Path) -> dict[str, Any]:
    detector = {"model": str(MODELS / "defects-yolov8n.onnx")}
    return {"camera": {"uri": str(uri), "fps": 4, "loop": True, "frame_size": None,
                       "detector": detector}}  # fmt: skip


def infrared(folder: Path, spot_c: float | None) -> dict[str, Any]:
    frames = [frame_with_spot(30.0, spot_c)]
    return {"infrared": infrared_source(folder, frames, scorer={"warn_c": 55, "limit_c": 90})}


def microphone(clip: Path) -> dict[str, Any]:
    classifier = {"model": str(MODELS / "sound-cnn-lstm.onnx")}
    return {"microphone": {"file": str(clip), "loop": True, "window_s": 1.0,
                           "classifier": classifier}}  # fmt: skip


def device(device_id: str, sources: dict[str, Any], sense: str) -> dict[str, Any]:
    return {"id": device_id, "sources": sources, "fusion": {"weights": {sense: 1.0}}}


async def test_each_shipped_model_alarms_on_abnormal_input_only(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    sound = FIXTURES / "sound"
    devices = [
        device("defect-cam", camera(defect_video(tmp_path / "defects.avi")), "image"),
        device("clean-cam", camera(DEMO_SAMPLES / "motor-02" / "camera.avi"), "image"),
        device("hot-ir", infrared(tmp_path / "hot", 120.0), "temperature"),
        device("cool-ir", infrared(tmp_path / "cool", None), "temperature"),
        device("fault-mic", microphone(sound / "inner_race" / "IR007_2_c00.wav"), "audio"),
        device("normal-mic", microphone(sound / "normal" / "Normal_0_c03.wav"), "audio"),
    ]
    config = parse_config(
        {
            "site": "models",
            "broker": {"host": broker[0], "port": broker[1], "topic_prefix": topic_prefix},
            "inspection": {"enabled": False},
            "storage": {"dir": str(tmp_path / "state")},
            "devices": devices,
        }
    )
    abnormal = {"defect-cam", "hot-ir", "fault-mic"}
    stop = asyncio.Event()
    async with subscribe(*broker, f"{topic_prefix}/models/#") as seen:
        agent = Agent(config)
        running = asyncio.create_task(agent.run(stop))

        def all_raised(c: Any) -> bool:
            return abnormal <= {a["device"] for a in c.json("/alarm")}

        await seen.wait_for(all_raised, 40)
        await asyncio.sleep(3.0)  # give the normal devices time to misbehave, if they would
        stop.set()
        await running
    alarmed = {a["device"] for a in seen.json("/alarm")}
    assert alarmed == abnormal
    types = {a["device"]: a["type"] for a in seen.json("/alarm")}
    assert types["hot-ir"] == "hot_spot"
    assert types["fault-mic"] == "inner_race"
    assert types["defect-cam"] in {"scratches", "inclusion", "patches", "crazing"}
