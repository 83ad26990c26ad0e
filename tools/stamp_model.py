"""Set an ONNX model's `name` and `version` metadata (kept beside the exporter's own keys).

python tools/stamp_model.py models/defects-yolov8n.onnx --name defects-yolov8n --version 1.0.0
"""

from __future__ import annotations

import argparse
from pathlib import Path

import onnx


def stamp(path: Path, **props: str) -> None:
    """Add or replace metadata props in place."""
    model = onnx.load(str(path))
    existing = {p.key: p.value for p in model.metadata_props}
    existing.update(props)
    del model.metadata_props[:]
    for key, value in existing.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path)
    parser.add_argument("--name", required=True)
    parser.add_argument("--version", required=True)
    args = parser.parse_args()
    stamp(args.model, name=args.name, version=args.version)


if __name__ == "__main__":
    main()
