"""LICENSES.md covers every bundled non-code file: data, models, fixtures, vendored code."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LICENSES = ROOT / "LICENSES.md"
COVERED_FOLDERS = (
    "models/",
    "agent/apps/demo/samples/",
    "tests/fixtures/",
    "agent/apps/dashboard/static/vendor/",
)
CODE_SUFFIXES = (".py",)


def tracked_files() -> list[str]:
    """`git ls-files` of the checkout, or a skip where this is not one."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    result = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z"], capture_output=True, check=False
    )
    if result.returncode != 0:
        pytest.skip("not a git checkout")
    return [name for name in result.stdout.decode().split("\0") if name]


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex: `*` and `?` stay within one folder, `**` crosses folders."""
    parts = []
    for token in re.split(r"(\*\*|\*|\?)", pattern):
        parts.append({"**": ".*", "*": "[^/]*", "?": "[^/]"}.get(token, re.escape(token)))
    return re.compile("".join(parts))


def table_patterns(text: str) -> list[str]:
    """The backticked paths of each table row's first column."""
    patterns = []
    for line in text.splitlines():
        if not line.startswith("|") or line.startswith("|---"):
            continue
        first = line.split("|")[1]
        patterns += re.findall(r"`([^`]+)`", first)
    return patterns


def test_every_bundled_non_code_file_has_a_licence_entry() -> None:
    files = [
        name
        for name in tracked_files()
        if name.startswith(COVERED_FOLDERS) and not name.endswith(CODE_SUFFIXES)
    ]
    assert files, "git ls-files listed none of the bundled files"
    patterns = [glob_regex(p) for p in table_patterns(LICENSES.read_text(encoding="utf-8"))]
    uncovered = [name for name in files if not any(p.fullmatch(name) for p in patterns)]
    assert not uncovered, f"not covered by any row of LICENSES.md: {uncovered}"


def test_every_entry_matches_a_tracked_file() -> None:
    """A row for a file that is gone (renamed, deleted) is stale."""
    files = tracked_files()
    stale = [
        pattern
        for pattern in table_patterns(LICENSES.read_text(encoding="utf-8"))
        if not any(glob_regex(pattern).fullmatch(name) for name in files)
    ]
    assert not stale, f"LICENSES.md rows matching no tracked file: {stale}"


@pytest.mark.parametrize(
    ("pattern", "name", "matches"),
    [
        ("models/*.onnx", "models/a.onnx", True),
        ("models/*.onnx", "models/sub/a.onnx", False),
        ("a/*/thermal/frame_*.png", "a/pump-01/thermal/frame_0001.png", True),
        ("a/**", "a/b/c.txt", True),
        ("a/b.c", "a/bxc", False),
    ],
)
def test_glob_patterns(pattern: str, name: str, matches: bool) -> None:
    assert bool(glob_regex(pattern).fullmatch(name)) is matches
