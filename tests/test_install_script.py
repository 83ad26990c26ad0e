"""deploy/jetson/install.sh --plan: the venv and the extras each machine gets (no root needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "deploy" / "jetson" / "install.sh"
pytestmark = pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")


def plan(tegra_release: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in {"EXTRAS", "VENV_OPTIONS", "PREFIX"}}
    environ |= {"TEGRA_RELEASE": str(tegra_release), "PREFIX": "/opt/edge-agent", **env}
    return subprocess.run(
        ["bash", str(SCRIPT), "--plan"], env=environ, capture_output=True, text=True, timeout=30
    )


def test_a_jetson_gets_system_site_packages_and_the_jetson_extra(tmp_path: Path) -> None:
    release = tmp_path / "nv_tegra_release"
    release.write_text("# R36 (release), REVISION: 4.0\n")
    result = plan(release)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "python3 -m venv --system-site-packages /opt/edge-agent",
        f"/opt/edge-agent/bin/pip install --upgrade {ROOT}[jetson]",
    ]


def test_elsewhere_the_cpu_extra_by_default(tmp_path: Path) -> None:
    result = plan(tmp_path / "absent")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "python3 -m venv /opt/edge-agent",
        f"/opt/edge-agent/bin/pip install --upgrade {ROOT}[cpu]",
    ]


def test_extras_gpu_chooses_onnxruntime_gpu(tmp_path: Path) -> None:
    result = plan(tmp_path / "absent", EXTRAS="gpu")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].endswith(f"{ROOT}[gpu]")


@pytest.mark.parametrize("extras", ["cpu,gpu", "gpu, cpu"])
def test_cpu_and_gpu_together_are_refused(tmp_path: Path, extras: str) -> None:
    result = plan(tmp_path / "absent", EXTRAS=extras)
    assert result.returncode == 1
    assert "alternatives" in result.stderr
    assert not result.stdout
