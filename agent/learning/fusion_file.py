"""The learned fusion file (models/fusion-learned.json): read as untrusted input."""

from __future__ import annotations

from pathlib import Path

from pydantic import ValidationError

from agent.boundedfile import FileTooLargeError, read_at_most
from agent.config.loader import field_path
from agent.core.learned_fusion import FusionModel
from agent.jsontext import loads_bounded

MAX_FILE_BYTES = 1024 * 1024
MAX_DEPTH = 8  # the file nests 4 levels


def read_fusion_model(path: Path) -> FusionModel:
    """The file, checked: a ValueError naming the file and the field when it is not one."""
    try:
        data = read_at_most(path, MAX_FILE_BYTES)
    except FileTooLargeError:
        raise ValueError(f"{path}: a fusion model is at most {MAX_FILE_BYTES} bytes") from None
    try:
        document = loads_bounded(data, MAX_DEPTH)
    except ValueError as exc:
        raise ValueError(f"{path}: not JSON: {exc}") from None
    try:
        return FusionModel.model_validate(document)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field_path(tuple(e['loc']))}: {str(e['msg']).removeprefix('Value error, ')}"
            for e in exc.errors()
        )
        raise ValueError(f"{path}: {problems}") from None
