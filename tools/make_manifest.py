"""Write models/MANIFEST: sha256, version (from each ONNX file's metadata) and file name.

python tools/make_manifest.py [models]
"""

from __future__ import annotations

import sys
from pathlib import Path

from agent.inference.models import MANIFEST_NAME, sha256_of
from agent.inference.session import OnnxRuntimeSession


def manifest_lines(folder: Path) -> list[str]:
    """One line per ONNX model in the folder, sorted by name."""
    lines = []
    for path in sorted(folder.glob("*.onnx")):
        version = OnnxRuntimeSession(path).metadata.get("version", "unversioned")
        lines.append(f"{sha256_of(path)}  {version}  {path.name}")
    return lines


def write_manifest(folder: Path) -> None:
    """Rewrite the folder's MANIFEST from the ONNX files it holds now."""
    text = "# sha256  version  file; the agent refuses a listed file whose hash differs\n"
    (folder / MANIFEST_NAME).write_text(text + "\n".join(manifest_lines(folder)) + "\n")


def main() -> None:
    write_manifest(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models"))


if __name__ == "__main__":
    main()
