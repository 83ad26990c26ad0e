"""The shipped models in models/ and their MANIFEST (sha256 and version of each file)."""

from __future__ import annotations

import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

MANIFEST_NAME = "MANIFEST"


def models_dir() -> Path:
    """EDGE_AGENT_MODELS if set, else the repository's models/ folder."""
    override = os.environ.get("EDGE_AGENT_MODELS")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "models"


@dataclass(frozen=True, slots=True)
class ManifestEntry:
    """One line of a MANIFEST: `<sha256>  <version>  <file name>`."""

    sha256: str
    version: str
    name: str


def read_manifest(folder: Path) -> dict[str, ManifestEntry]:
    """Entries by file name; empty when the folder has no MANIFEST."""
    path = folder / MANIFEST_NAME
    if not path.is_file():
        return {}
    entries = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or len(parts[0]) != 64:
            raise ValueError(f"{path}:{number}: expected '<sha256>  <version>  <file>'")
        entries[parts[2]] = ManifestEntry(*parts)
    return entries


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file; one unchanged since (same inode, mtime, size) is read only once.

    Opening a model checks it against its MANIFEST and, for a TensorRT engine, against the
    engine's record: one read of a large file serves both.
    """
    return _sha256(*file_identity(path))


def file_identity(path: Path) -> tuple[str, int, int, int]:
    """(resolved path, inode, mtime in ns, size): changes when the file is rewritten or
    replaced, so what was computed from the file may be kept while it stays the same."""
    stat = path.stat()
    return str(path.resolve()), stat.st_ino, stat.st_mtime_ns, stat.st_size


@functools.lru_cache(maxsize=64)
def _sha256(path: str, inode: int, mtime_ns: int, size: int) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
