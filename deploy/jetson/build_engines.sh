#!/usr/bin/env bash
# Build the TensorRT engines of the three shipped models on this Jetson, beside their ONNX files.
# An engine runs only on the GPU model and TensorRT version it was built with: build on the
# target, again after a JetPack upgrade or a retrained model (the agent refuses a stale one).
#
#   sudo deploy/jetson/build_engines.sh [MODELS_DIR]   (default /opt/edge-agent/models, where
#                                                      install.sh puts the models)
#   sudo PYTHON=/opt/edge-agent/bin/python CALIBRATION_IMAGES=/data/line-1/frames deploy/jetson/build_engines.sh
#
# CALIBRATION_IMAGES (a folder of real frames from your cameras) builds the detector in INT8;
# without it, FP16. Measure INT8's accuracy cost with `edge-agent evaluate detector` first.
set -euo pipefail

models=${1:-/opt/edge-agent/models}
python=${PYTHON:-/opt/edge-agent/bin/python}
tool="$(cd "$(dirname "$0")/../.." && pwd)/tools/build_engine.py"

if [[ -n "${CALIBRATION_IMAGES:-}" ]]; then
    detector=(--precision int8 --calibration-images "$CALIBRATION_IMAGES")
else
    detector=(--precision fp16)
fi

# Up to 8 frames per run: cameras sharing the detector batch the frames that are ready together
# (detector.max_batch). 192x192 is the model's imgsz; the engine's input has a fixed size.
"$python" "$tool" "$models/defects-yolov8n.onnx" "${detector[@]}" \
    --shape images=1x3x192x192/1x3x192x192/8x3x192x192
# MFCC frames vary with the voiced part of each window: 10 ms each, up to 10 s windows.
"$python" "$tool" "$models/sound-cnn-lstm.onnx" --precision fp16 \
    --shape mfcc=1x1x40/1x99x40/1x1000x40
# The Isolation Forest is made of ai.onnx.ml tree operators, which TensorRT cannot import:
# it stays on ONNX Runtime (a few microseconds per window on the CPU); backend: auto says so.
if ! "$python" "$tool" "$models/sensor-iforest.onnx" --precision fp32 --shape features=1x5; then
    echo "sensor-iforest: no engine; it runs on ONNX Runtime" >&2
fi
