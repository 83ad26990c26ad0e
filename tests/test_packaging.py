"""What each install path pulls in, read from the installed distribution's metadata.

ONNX Runtime comes from exactly one place: the `cpu` extra, the `gpu` extra, or on a Jetson
NVIDIA's wheel; `onnxruntime` and `onnxruntime-gpu` in one environment break each other (both
own the `onnxruntime` module). A Jetson gets TensorRT from JetPack, never from PyPI.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

DIST = "edge-inspection-agent"
ROOT = Path(__file__).resolve().parents[1]
ORT = {"onnxruntime", "onnxruntime-gpu"}
# every combination of extras a doc or script tells a user to install, checked below as well
DOCUMENTED = [
    ("cpu",),
    ("gpu",),
    ("jetson",),
    ("cpu", "dev"),
    ("cpu", "train"),
    ("cpu", "postgresql"),
]
DOC_FILES = ["README.md", "tools/test.sh", "agent/apps/bench/ultralytics_compare.py"]
DOC_FOLDERS = ["docs", "deploy", "models"]
TEXT_SUFFIXES = {".md", ".sh", ".yaml", ".service"}


def requirements() -> list[Requirement]:
    try:
        return [Requirement(r) for r in importlib.metadata.requires(DIST) or []]
    except importlib.metadata.PackageNotFoundError:
        pytest.fail(f"{DIST} is not installed: pip install -e '.[cpu,dev]'")


def wanted(extras: tuple[str, ...]) -> set[str]:
    """Canonical names of what installing `DIST[extras]` asks for (markers evaluated here)."""
    names: set[str] = set()
    for req in requirements():
        if req.marker is None:
            applies = True
        else:
            applies = any(req.marker.evaluate({"extra": extra}) for extra in ("", *extras))
        if not applies:
            continue
        name = canonicalize_name(req.name)
        if name == DIST:  # an extra that includes another extra of this package
            names |= wanted(tuple(sorted(req.extras)))
        else:
            names.add(name)
    return names


def test_the_installed_metadata_is_this_pyproject() -> None:
    """Otherwise the tests below would check a stale install."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    declared = {str(Requirement(r)) for r in project["dependencies"]}
    for extra, reqs in project["optional-dependencies"].items():
        declared |= {f'{Requirement(r)}; extra == "{extra}"' for r in reqs}
    installed = {str(r) for r in requirements()}
    assert installed == declared, "stale install: pip install -e '.[cpu,dev]' again"


def test_the_base_install_has_no_onnxruntime_and_no_tensorrt() -> None:
    base = wanted(())
    assert not base & {*ORT, "tensorrt"}, base


@pytest.mark.parametrize("extras", DOCUMENTED, ids="+".join)
def test_no_documented_install_brings_both_onnxruntimes(extras: tuple[str, ...]) -> None:
    assert len(wanted(extras) & ORT) <= 1, wanted(extras) & ORT


@pytest.mark.parametrize(("extra", "runtime"), [("cpu", "onnxruntime"), ("gpu", "onnxruntime-gpu")])
def test_cpu_and_gpu_are_alternatives(extra: str, runtime: str) -> None:
    assert wanted((extra,)) & ORT == {runtime}


def test_the_jetson_extra_asks_pypi_for_no_tensorrt_and_no_onnxruntime() -> None:
    jetson = wanted(("jetson",)) - wanted(())
    assert not any(name.startswith("tensorrt") for name in jetson), jetson
    assert not jetson & ORT, jetson


def test_torch_and_ultralytics_only_in_the_train_extra() -> None:
    heavy = {"torch", "torchvision", "ultralytics"}
    for extra in importlib.metadata.metadata(DIST).get_all("Provides-Extra") or []:
        if extra != "train":
            assert not wanted((extra,)) & heavy, extra
    assert heavy <= wanted(("train",))
    pins: dict[str, str] = {
        canonicalize_name(r.name): str(r.specifier)
        for r in requirements()
        if r.marker is not None and r.marker.evaluate({"extra": "train"})
    }
    assert pins["torch"] == "==2.14.1"
    assert pins["torchvision"] == "==0.29.1"


def documented_extras() -> set[tuple[str, ...]]:
    """The extras of every `pip install` line in the docs and install scripts."""
    files = [ROOT / f for f in DOC_FILES]
    for folder in DOC_FOLDERS:
        files += [p for p in sorted((ROOT / folder).rglob("*")) if p.suffix in TEXT_SUFFIXES]
    found = set()
    for path in files:
        for line in path.read_text(encoding="utf-8").splitlines():
            if "pip install" not in line:
                continue
            for match in re.finditer(r"\[([a-z][a-z0-9,_ -]*)\]", line):
                found.add(tuple(sorted(e.strip() for e in match.group(1).split(","))))
    return found


def test_every_documented_install_is_checked_above() -> None:
    found = documented_extras()
    assert ("cpu",) in found  # the README's demo command
    assert not found - {tuple(sorted(e)) for e in DOCUMENTED}, found
