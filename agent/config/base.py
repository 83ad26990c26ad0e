"""Shared pieces of the config schema: strict base model and checked file paths."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo
from pydantic.functional_validators import AfterValidator


class StrictModel(BaseModel):
    """Every config section rejects unknown keys, so a typo is an error, not a silent default."""

    model_config = ConfigDict(extra="forbid", frozen=True)


SectionT = TypeVar("SectionT", bound=BaseModel)


def overridden(section: SectionT, **fields: object) -> SectionT:
    """`section` with the given fields replaced, skipping None: a command-line option left out
    keeps the config's value. Nothing to replace returns `section` itself."""
    changes = {name: value for name, value in fields.items() if value is not None}
    return section.model_copy(update=changes) if changes else section


def _readable_file(path: Path, info: ValidationInfo) -> Path:
    """Resolve relative to the config file's folder and insist the file can be opened."""
    base = (info.context or {}).get("base_dir")
    if not path.is_absolute() and base is not None:
        path = Path(os.path.normpath(Path(base) / path))
    try:
        found = path.is_file()
    except OSError as exc:  # a name too long for the file system, for one
        raise ValueError(f"cannot open {str(path)[:200]}: {exc.strerror}") from None
    if not found:
        raise ValueError(f"file not found: {path}")
    if not os.access(path, os.R_OK):
        raise ValueError(f"file not readable: {path}")
    return path


ReadableFile = Annotated[Path, AfterValidator(_readable_file)]
# Every float in the config is finite: `.inf` and `.nan` are refused wherever a number is meant.
# Durations, rates and sizes also have a ceiling, so a typo of a few digits (or 1e308) cannot
# turn a timer into "never" or a buffer into the whole memory.
MAX_SECONDS = 7 * 86_400.0  # a week: the longest timeout, interval or hold the agent accepts
MAX_DAYS = 36_500.0  # a century of retention
MAX_RATE_HZ = 1_000.0
MIN_RATE_HZ = 0.001  # one sample every ~17 minutes; slower watching is an inspection round

FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Probability = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]
PositiveFloat = Annotated[float, Field(gt=0.0, allow_inf_nan=False)]
Seconds = Annotated[float, Field(gt=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
NonNegativeSeconds = Annotated[float, Field(ge=0.0, le=MAX_SECONDS, allow_inf_nan=False)]
Days = Annotated[float, Field(gt=0.0, le=MAX_DAYS, allow_inf_nan=False)]
RateHz = Annotated[float, Field(ge=MIN_RATE_HZ, le=MAX_RATE_HZ, allow_inf_nan=False)]
Backend = Literal["auto", "tensorrt", "onnxruntime"]  # see agent.inference.backends
BatchSize = Annotated[int, Field(ge=1, le=64)] | Literal["auto"]  # see agent.inference.batching


def resolve_local_uri(uri: str, info: ValidationInfo) -> str:
    """Make a relative file path or glob absolute against the config's folder; leave URLs be."""
    base = (info.context or {}).get("base_dir")
    if base is None or "://" in uri or uri.isdigit() or "!" in uri or Path(uri).is_absolute():
        return uri
    candidate = Path(os.path.normpath(Path(base) / uri))
    has_glob = any(ch in uri for ch in "*?[")
    try:
        exists = candidate.exists()
    except OSError:  # a name too long for the file system: not a local file
        exists = False
    if has_glob or exists:
        return str(candidate)
    return uri


_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d)$")
_UNIT_S = {"s": 1.0, "m": 60.0, "h": 3_600.0, "d": 86_400.0}


def duration_seconds(text: str) -> float | None:
    """Seconds of a duration written as a person would (90s, 30m, 2h, 1.5d); None if not one."""
    match = _DURATION.match(text.strip().lower())
    return float(match.group(1)) * _UNIT_S[match.group(2)] if match else None
