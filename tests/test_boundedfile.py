"""A file read from outside is read no further than its bound, even an endless one."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.boundedfile import FileTooLargeError, read_at_most


def test_a_file_at_the_bound_is_read_and_one_byte_more_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"x" * 100)
    assert read_at_most(path, 100) == b"x" * 100
    with pytest.raises(FileTooLargeError, match="f: over 99 bytes"):
        read_at_most(path, 99)


def test_an_endless_device_is_refused_after_the_bound() -> None:
    with pytest.raises(FileTooLargeError):
        read_at_most(Path("/dev/zero"), 1 << 20)


def test_a_missing_file_is_the_callers_to_name(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_at_most(tmp_path / "missing", 10)
