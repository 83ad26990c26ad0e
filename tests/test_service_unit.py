"""deploy/jetson/edge-agent.service: what it promises, checked by systemd's own verifier."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "deploy" / "jetson" / "edge-agent.service"
INSTALL_PREFIX = "/opt/edge-agent"


def settings(text: str) -> dict[str, list[str]]:
    """Key -> values in file order (comments and section headers dropped)."""
    found: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith(("#", "[")) or "=" not in line:
            continue
        key, value = line.split("=", 1)
        found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_unit_is_a_notify_service_with_watchdog_reload_and_hardening() -> None:
    unit = settings(UNIT.read_text())
    expected = {
        "Type": ["notify"],
        "Restart": ["on-failure"],
        "User": ["edge-agent"],
        "ExecReload": ["/bin/kill -HUP $MAINPID"],
        "StateDirectory": ["edge-agent"],
        "ReadWritePaths": ["/var/lib/edge-agent"],
        "ProtectSystem": ["strict"],
        "NoNewPrivileges": ["yes"],
        "PrivateTmp": ["yes"],
    }
    assert {key: unit.get(key) for key in expected} == expected
    assert unit["WatchdogSec"] == ["30s"]
    # these would hide the cameras, serial ports and GPU the agent exists to use
    assert not {"PrivateDevices", "DevicePolicy", "PrivateUsers"} & set(unit)


@pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (tools/test.sh installs Debian's systemd package "
    "when it may)",
)
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify insists that ExecStart exists: point it at this environment's edge-agent
    prefix = str(Path(sys.executable).parent.parent)
    assert (Path(prefix) / "bin" / "edge-agent").is_file(), "install the package first"
    unit = tmp_path / "edge-agent.service"
    unit.write_text(UNIT.read_text().replace(INSTALL_PREFIX, prefix))
    result = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # unknown keys and bad values are only warnings ("..., ignoring") with exit code 0
    assert "edge-agent.service" not in output, output
