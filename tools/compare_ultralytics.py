"""Print, as JSON, our detector path's end-to-end fps against Ultralytics' predictor.

Same ONNX model, same video, same run, alternating rounds (agent.apps.bench.ultralytics_compare).
Needs the train extra:

    .venv-train/bin/python tools/compare_ultralytics.py --video my-line.mp4 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from agent.apps.bench.ultralytics_compare import Settings, UltralyticsMissingError, compare

ROOT = Path(__file__).resolve().parents[1]
DEMO_VIDEO = "agent/apps/demo/samples/pump-01/camera.avi"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=ROOT / "models/defects-yolov8n.onnx")
    parser.add_argument("--video", type=Path, default=ROOT / DEMO_VIDEO)
    parser.add_argument("--frames", type=int, default=300, help="frames per round at most")
    parser.add_argument("--duration", type=float, default=None, help="seconds per round at most")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = Settings(frames=args.frames, duration_s=args.duration)
    try:
        result = compare(args.model, args.video, settings, args.rounds)
    except UltralyticsMissingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
