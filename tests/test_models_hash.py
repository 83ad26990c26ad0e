"""sha256_of reads an unchanged file once, and a rewritten one again."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from agent.inference import models
from agent.inference.models import sha256_of


def test_an_unchanged_file_is_read_once_and_a_rewritten_one_again(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"weights v1")
    reads_before = models._sha256.cache_info().misses

    first = sha256_of(path)
    assert sha256_of(path) == first == hashlib.sha256(b"weights v1").hexdigest()
    assert models._sha256.cache_info().misses == reads_before + 1

    path.write_bytes(b"weights v2")  # same size; only the mtime tells them apart
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert sha256_of(path) == hashlib.sha256(b"weights v2").hexdigest()
    assert models._sha256.cache_info().misses == reads_before + 2
