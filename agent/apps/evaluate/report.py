"""Print an evaluation result as a table for people or one JSON object for scripts."""

from __future__ import annotations

import json
from typing import Any


def render_table(result: dict[str, Any], indent: str = "") -> str:
    """One scalar per line; nested mappings (per class, confusion) indented below; a list of
    records (per run) as a table with a header."""
    lines: list[str] = []
    for key, value in result.items():
        if isinstance(value, dict):
            lines += [f"{indent}{key}:", render_table(value, indent + "  ")]
        elif _is_records(value):
            lines += [f"{indent}{key}:", *_records(value, indent + "  ")]
        else:
            lines.append(f"{indent}{key:<{26 - len(indent)}} {_fmt(value)}")
    return "\n".join(lines)


def _is_records(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _records(rows: list[dict[str, Any]], indent: str) -> list[str]:
    """Rows of equal keys as aligned columns, the keys as the header."""
    keys = list(rows[0])
    cells = [[_fmt(row.get(k)) for k in keys] for row in rows]
    widths = [max(len(k), *(len(c[i]) for c in cells)) for i, k in enumerate(keys)]

    def line(values: list[str]) -> str:
        return indent + "  ".join(v.ljust(w) for v, w in zip(values, widths, strict=True))

    return [line(keys), *(line(c).rstrip() for c in cells)]


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def render(result: dict[str, Any], as_json: bool) -> str:
    """The one place that decides the output format."""
    return json.dumps(result) if as_json else render_table(result)
