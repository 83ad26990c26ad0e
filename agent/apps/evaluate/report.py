"""Print an evaluation result as a table for people or one JSON object for scripts."""

from __future__ import annotations

import json
from typing import Any

from agent.core.calibration_check import times_promised

CHECK_KEYS = {"judged", "levels", "verdict"}  # one calibration check (SenseCheck.view)


def render_table(result: dict[str, Any], indent: str = "") -> str:
    """One scalar per line; nested mappings (per class, confusion) indented below; a list of
    records (per run) as a table with a header; calibration checks a row each."""
    lines: list[str] = []
    for key, value in result.items():
        if (checks := _check_rows(key, value)) is not None:
            lines += [f"{indent}{key}:", *(_records(checks, indent + "  ") if checks else [])]
        elif isinstance(value, dict):
            lines += [f"{indent}{key}:", render_table(value, indent + "  ")]
        elif _is_records(value):
            lines += [f"{indent}{key}:", *_records(value, indent + "  ")]
        else:
            lines.append(f"{indent}{key:<{26 - len(indent)}} {_fmt(value)}")
    return "\n".join(lines)


def _check_rows(key: str, value: Any) -> list[dict[str, Any]] | None:
    """A calibration check in any of its shapes as rows, else None: one check; checks by
    name (by sense; `per_run`: by run); checks by sense by name (`per_episode`: by episode,
    one that judged nothing is {})."""
    if _is_check(value):
        return [_check_row(value)]
    name = key.removeprefix("per_") if key.startswith("per_") else "sense"
    if _is_checks(value):
        return [{name: k, **_check_row(v)} for k, v in value.items()]
    nested = isinstance(value, dict) and any(map(_is_checks, value.values()))
    if nested and all(v == {} or _is_checks(v) for v in value.values()):
        return [{name: k, "sense": sense, **_check_row(check)}
                for k, by_sense in value.items() for sense, check in by_sense.items()]  # fmt: skip
    return None


def _is_check(value: Any) -> bool:
    return isinstance(value, dict) and value.keys() == CHECK_KEYS


def _is_checks(value: Any) -> bool:
    return isinstance(value, dict) and bool(value) and all(map(_is_check, value.values()))


def _check_row(check: dict[str, Any]) -> dict[str, Any]:
    """Judged, how many times as often as promised each level was reached (1e-2: one healthy
    score in 100), the verdict."""
    return {"judged": check["judged"],
            **{f"1e-{lv['decades']}": f"{times_promised(lv['ratio'])}x" for lv in check["levels"]},
            "verdict": check["verdict"]}  # fmt: skip


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
