#!/usr/bin/env bash
# Install the edge agent as a systemd service on a Jetson (or any systemd Linux), as root:
#   sudo deploy/jetson/install.sh [--start]
#   deploy/jetson/install.sh --plan     # print the venv and pip commands it would run; no root
# It creates the `edge-agent` user (with the groups that own cameras, serial ports, the GPU
# and audio), a virtual environment in $PREFIX with the agent and its models, the config in
# /etc/edge-agent (kept if present), the state folder /var/lib/edge-agent, and the unit;
# then it enables the service, and starts it with --start once the config checks out.
#
# ONNX Runtime comes from exactly one source (onnxruntime and onnxruntime-gpu both own the
# `onnxruntime` module and break each other in one environment):
# - on a Jetson (/etc/nv_tegra_release): the venv is made with --system-site-packages, so it
#   sees JetPack's TensorRT (python3-libnvinfer) and OpenCV, and gets the `jetson` extra, which
#   asks PyPI for neither TensorRT nor ONNX Runtime: install NVIDIA's onnxruntime-gpu wheel for
#   your JetPack into it yourself (deploy/jetson/README.md);
# - elsewhere: the `cpu` extra (PyPI's onnxruntime), or EXTRAS=gpu for onnxruntime-gpu (CUDA).
set -euo pipefail

PREFIX="${PREFIX:-/opt/edge-agent}"       # the virtual environment and the models
CONFIG_DIR=/etc/edge-agent
STATE_DIR=/var/lib/edge-agent
UNIT_DIR="${UNIT_DIR:-/etc/systemd/system}"
USER_NAME=edge-agent
DEVICE_GROUPS=(video dialout render audio)  # Jetson GPU and cameras, UARTs, DRM, sound
TEGRA_RELEASE="${TEGRA_RELEASE:-/etc/nv_tegra_release}"  # present on a Jetson (L4T)
REPO="$(cd "$(dirname "$0")/../.." && pwd)"
if [ -e "$TEGRA_RELEASE" ]; then
    EXTRAS="${EXTRAS-jetson}"                             # TensorRT and ORT: JetPack, NVIDIA
    VENV_OPTIONS="${VENV_OPTIONS-"--system-site-packages"}"  # JetPack's tensorrt, OpenCV
else
    EXTRAS="${EXTRAS-cpu}"                                # or EXTRAS=gpu: onnxruntime-gpu
    VENV_OPTIONS="${VENV_OPTIONS-}"
fi
EXTRAS="${EXTRAS// /}"
has_extra() { case ",$EXTRAS," in *",$1,"*) return 0 ;; esac; return 1; }
if has_extra cpu && has_extra gpu; then
    echo "EXTRAS=$EXTRAS: cpu and gpu are alternatives (both install the onnxruntime module)" >&2
    exit 1
fi
unwanted_ort=""  # the other ONNX Runtime, e.g. the CPU one an older install put in
if has_extra gpu || has_extra jetson; then unwanted_ort=onnxruntime; fi
if has_extra cpu; then unwanted_ort=onnxruntime-gpu; fi
target="$REPO${EXTRAS:+[$EXTRAS]}"

start=false plan=false
[ "${1:-}" = "--start" ] && start=true
[ "${1:-}" = "--plan" ] && plan=true
if $plan; then
    echo "python3 -m venv ${VENV_OPTIONS:+$VENV_OPTIONS }$PREFIX"
    echo "$PREFIX/bin/pip install --upgrade $target"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    echo "run as root: sudo $0 $*" >&2
    exit 1
fi

echo "user $USER_NAME"
if ! id -u "$USER_NAME" >/dev/null 2>&1; then
    useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
        --shell /usr/sbin/nologin "$USER_NAME"
fi
for group in "${DEVICE_GROUPS[@]}"; do
    if getent group "$group" >/dev/null; then usermod -aG "$group" "$USER_NAME"; fi
done

echo "folders $STATE_DIR $CONFIG_DIR"
install -d -m 0750 -o "$USER_NAME" -g "$USER_NAME" "$STATE_DIR"
install -d -m 0750 -o root -g "$USER_NAME" "$CONFIG_DIR"

echo "virtual environment $PREFIX"
# shellcheck disable=SC2086  # VENV_OPTIONS is a list of options
python3 -m venv $VENV_OPTIONS "$PREFIX"
if [ -n "$unwanted_ort" ] && "$PREFIX/bin/pip" show --quiet "$unwanted_ort" >/dev/null 2>&1; then
    echo "removing $unwanted_ort (it and the ONNX Runtime of EXTRAS=$EXTRAS cannot share a venv)"
    "$PREFIX/bin/pip" uninstall --quiet --yes "$unwanted_ort" ||
        echo "could not remove $unwanted_ort (outside $PREFIX?): remove it yourself" >&2
fi
echo "pip install $target"
"$PREFIX/bin/pip" install --quiet --upgrade "$target"
if ! "$PREFIX/bin/python" -c "import onnxruntime" 2>/dev/null; then
    echo "onnxruntime is not installed in $PREFIX: the agent will not start until it is;" \
        "on a Jetson install NVIDIA's onnxruntime-gpu wheel for your JetPack" \
        "($PREFIX/bin/pip install onnxruntime_gpu-*.whl, see deploy/jetson/README.md)" >&2
fi
install -d -m 0755 "$PREFIX/models"
install -m 0644 "$REPO"/models/*.onnx "$REPO/models/MANIFEST" "$PREFIX/models/"
install -D -m 0644 "$REPO/deploy/jetson/README.md" "$PREFIX/share/edge-agent/README.md"

if [ ! -e "$CONFIG_DIR/config.yaml" ]; then
    echo "config $CONFIG_DIR/config.yaml (from the example: edit it for your devices)"
    sed "s|\.\./\.\./models/|$PREFIX/models/|g" "$REPO/deploy/jetson/config.example.yaml" |
        install -m 0640 -o root -g "$USER_NAME" /dev/stdin "$CONFIG_DIR/config.yaml"
fi
if [ ! -e "$CONFIG_DIR/agent.env" ]; then  # secrets, e.g. MQTT_PASSWORD=..., read by the unit
    install -m 0640 -o root -g "$USER_NAME" /dev/null "$CONFIG_DIR/agent.env"
fi

echo "unit $UNIT_DIR/edge-agent.service"
sed "s|/opt/edge-agent|$PREFIX|g" "$REPO/deploy/jetson/edge-agent.service" |
    install -m 0644 /dev/stdin "$UNIT_DIR/edge-agent.service"
systemd-analyze verify "$UNIT_DIR/edge-agent.service"
systemctl daemon-reload
systemctl enable edge-agent.service

if "$PREFIX/bin/edge-agent" check-config "$CONFIG_DIR/config.yaml"; then
    if $start; then systemctl restart edge-agent.service; fi
    echo "installed; start with: systemctl start edge-agent; logs: journalctl -u edge-agent -f"
else
    echo "installed, but fix $CONFIG_DIR/config.yaml first, then: systemctl start edge-agent" >&2
fi
