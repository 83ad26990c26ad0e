"""Typed reads of an ONNX model's custom metadata, the one parser every scorer and tool uses.

ONNX metadata is a flat `dict[str, str]`; each reader returns None (or the default given)
when the key is absent and raises ModelError, naming the model and the key, when the value
is there but is not what the key must hold.
"""

from __future__ import annotations

import ast
import json
import math
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, overload

from agent.inference.session import ModelError

if TYPE_CHECKING:
    from agent.inference.session import InferenceSession

_INTEGER = re.compile(r"\s*[+-]?\d+\s*")
_SHOWN = 80  # characters of a bad value quoted in an error


class ModelMetadata(Mapping[str, str]):
    """A model's metadata with typed readers; `model` names it in every error."""

    def __init__(self, values: Mapping[str, str], model: str) -> None:
        self._values = dict(values)
        self.model = model

    @classmethod
    def of(cls, session: InferenceSession) -> ModelMetadata:
        """The metadata of a loaded session, errors naming its `name@version`."""
        return cls(session.metadata, session.version)

    def __getitem__(self, key: str) -> str:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def error(self, key: str, problem: str) -> ModelError:
        """A ModelError about `key`'s value, naming the model, the key and the value."""
        raw = self._values.get(key, "")
        return ModelError(f"model {self.model}: metadata {key!r}={raw[:_SHOWN]!r} {problem}")

    @overload
    def text(self, key: str) -> str | None: ...
    @overload
    def text(self, key: str, default: str) -> str: ...
    def text(self, key: str, default: str | None = None) -> str | None:
        """The raw string, or `default` when absent."""
        return self._values.get(key, default)

    @overload
    def integer(self, key: str, *, minimum: int = 1) -> int | None: ...
    @overload
    def integer(self, key: str, default: int, *, minimum: int = 1) -> int: ...
    def integer(self, key: str, default: int | None = None, *, minimum: int = 1) -> int | None:
        """A decimal integer >= minimum (a count or a size: > 0 unless told), else `default`."""
        raw = self._values.get(key)
        if raw is None:
            return default
        value = int(raw) if _INTEGER.fullmatch(raw) else None
        if value is None or value < minimum:
            bound = "> 0" if minimum == 1 else f">= {minimum}"
            raise self.error(key, f"is not an integer {bound}")
        return value

    @overload
    def number(self, key: str) -> float | None: ...
    @overload
    def number(self, key: str, default: float) -> float: ...
    def number(self, key: str, default: float | None = None) -> float | None:
        """A finite float, else `default` when absent."""
        raw = self._values.get(key)
        if raw is None:
            return default
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise self.error(key, "is not a finite number")
        return value

    def literal(self, key: str) -> object | None:
        """A Python literal (Ultralytics writes `names` and `imgsz` so), None when absent."""
        raw = self._values.get(key)
        if raw is None:
            return None
        try:
            return ast.literal_eval(raw)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError) as exc:
            raise self.error(key, "is not a Python literal") from exc

    def json(self, key: str) -> object | None:
        """A JSON value, None when absent."""
        raw = self._values.get(key)
        if raw is None:
            return None
        try:
            return json.loads(raw)
        except json.JSONDecodeError as exc:
            raise self.error(key, "is not JSON") from exc

    def str_list(self, key: str) -> list[str] | None:
        """A JSON list of strings (class names, channels), None when absent."""
        value = self.json(key)
        if value is None and key not in self._values:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a JSON list of strings")
        return value
