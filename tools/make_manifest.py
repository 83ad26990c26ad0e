"""Write models/MANIFEST: sha256, version and file name of each ONNX model (its metadata says
the version) and learned fusion file (its `version`).

python -m tools.make_manifest [FOLDER]      (default: models)
"""

from __future__ import annotations

import argparse
from pathlib import Path

from agent.inference.models import MANIFEST_NAME, sha256_of
from agent.inference.session import OnnxRuntimeSession
from agent.learning.fusion_file import read_fusion_model

FUSION_FILES = "fusion-*.json"


def manifest_lines(folder: Path) -> list[str]:
    """One line per ONNX model and fusion file in the folder, sorted by name."""
    versions = {
        path: OnnxRuntimeSession(path).metadata.get("version", "unversioned")
        for path in folder.glob("*.onnx")
    }
    versions.update({path: read_fusion_model(path).version for path in folder.glob(FUSION_FILES)})
    return [f"{sha256_of(p)}  {versions[p]}  {p.name}" for p in sorted(versions)]


def write_manifest(folder: Path) -> None:
    """Rewrite the folder's MANIFEST from the model files it holds now."""
    text = "# sha256  version  file; the agent refuses a listed file whose hash differs\n"
    (folder / MANIFEST_NAME).write_text(text + "\n".join(manifest_lines(folder)) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(
        description="Rewrite a folder's MANIFEST: each model file's sha256, version and name."
    )
    parser.add_argument(
        "folder", type=Path, nargs="?", default=Path("models"), help="default: models"
    )
    folder = parser.parse_args().folder
    if not folder.is_dir():
        parser.error(f"{folder}: not a folder of models")
    write_manifest(folder)


if __name__ == "__main__":
    main()
