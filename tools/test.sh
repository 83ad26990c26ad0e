#!/usr/bin/env bash
# Install the agent with its cpu (ONNX Runtime) and dev extras into .venv, then run ruff, mypy
# and the whole test suite.
# System packages the tests need are installed when missing and when we are allowed to.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null || need_apt+=(mosquitto)
command -v socat >/dev/null || need_apt+=(socat)  # a serial line (pty pair) for the Modbus RTU tests
command -v chromium >/dev/null || need_apt+=(chromium)  # browser tests of the dashboard
command -v systemd-analyze >/dev/null || need_apt+=(systemd)  # verifies the service unit
if ((${#need_apt[@]})); then
    if [ "$(id -u)" = 0 ]; then apt_get=(apt-get); else apt_get=(sudo -n apt-get); fi
    echo "installing system packages: ${need_apt[*]}"
    "${apt_get[@]}" update -qq && "${apt_get[@]}" install -y -qq "${need_apt[@]}" ||
        echo "could not install ${need_apt[*]}; tests that need them will fail" >&2
fi

python="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e '.[cpu,dev]'

# promtool checks the /metrics output; taken out of Debian's package, whose server we don't want
if ! command -v promtool >/dev/null && [ ! -x .venv/bin/promtool ]; then
    deb_dir="$(mktemp -d)" && chmod a+rwx "$deb_dir"  # apt fetches as user _apt
    (cd "$deb_dir" && apt-get download -qq prometheus && dpkg -x prometheus_*.deb root) &&
        cp "$deb_dir/root/usr/bin/promtool" .venv/bin/ ||
        echo "could not fetch promtool; the metrics test that needs it will skip" >&2
    rm -rf "$deb_dir"
fi
export PATH="$PWD/.venv/bin:$PATH"

.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy  # agent/, tools/ and tests/, with the settings in pyproject.toml
exec .venv/bin/python -m pytest "$@"
