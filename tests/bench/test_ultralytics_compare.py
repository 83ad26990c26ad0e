"""The comparison's own half: decode thread, our timed pass, and a clear word without Ultralytics.

Ultralytics' half runs only with the train extra (tools/compare_ultralytics.py); tests never
install it.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import threading
from pathlib import Path

import cv2
import pytest

from agent.apps.bench.ultralytics_compare import (
    Settings,
    UltralyticsMissingError,
    agent_pass,
    agent_scorer,
    decoded_frames,
    require_ultralytics,
)
from agent.inference.models import models_dir

ROOT = Path(__file__).resolve().parents[2]
VIDEO = ROOT / "agent" / "apps" / "demo" / "samples" / "pump-01" / "camera.avi"
MODEL = models_dir() / "defects-yolov8n.onnx"
no_ultralytics = pytest.mark.skipif(
    importlib.util.find_spec("ultralytics") is not None, reason="Ultralytics is installed here"
)


def test_decode_thread_delivers_every_frame_in_order() -> None:
    capture = cv2.VideoCapture(str(VIDEO))
    expected = []
    while (read := capture.read())[0]:
        expected.append(read[1])
    capture.release()

    frames = list(decoded_frames(VIDEO, threading.Event()))

    assert len(frames) == len(expected) > 0
    assert all((a == b).all() for a, b in zip(frames, expected, strict=True))


def test_decode_thread_stops_when_the_consumer_does() -> None:
    stop = threading.Event()
    frames = decoded_frames(VIDEO, stop)
    next(frames)
    frames.close()  # joins the decode thread, which would block on a full queue otherwise
    assert stop.is_set()
    assert not [t for t in threading.enumerate() if t.name == "decode"]


def test_our_pass_scores_the_frame_budget() -> None:
    settings = Settings(frames=6)
    run = agent_pass(agent_scorer(MODEL, VIDEO, settings), VIDEO, settings)()

    assert run.frames == 6
    assert run.seconds > 0


@no_ultralytics
def test_missing_ultralytics_names_the_train_extra() -> None:
    with pytest.raises(UltralyticsMissingError, match=r"needs the train extra"):
        require_ultralytics()


@no_ultralytics
def test_the_tool_exits_2_with_the_reason() -> None:
    tool = ROOT / "tools" / "compare_ultralytics.py"
    done = subprocess.run(
        [sys.executable, str(tool), "--frames", "2"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2
    assert "Ultralytics is not installed" in done.stderr
