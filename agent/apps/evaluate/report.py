"""Print an evaluation result as a table for people or one JSON object for scripts."""

from __future__ import annotations

import json
from typing import Any


def render_table(result: dict[str, Any]) -> str:
    """Scalars first, one per line; nested mappings (per class, confusion) indented below."""
    lines: list[str] = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines.append(f"{key}:")
            lines += [f"  {k:<24} {_fmt(v)}" for k, v in value.items()]
        else:
            lines.append(f"{key:<26} {_fmt(value)}")
    return "\n".join(lines)


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render(result: dict[str, Any], as_json: bool) -> str:
    """The one place that decides the output format."""
    return json.dumps(result) if as_json else render_table(result)
