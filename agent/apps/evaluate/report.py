"""Print an evaluation result as a table for people or one JSON object for scripts."""

from __future__ import annotations

import json
from typing import Any

from agent.core.calibration_check import times_promised

CHECK_KEYS = {"judged", "levels", "verdict"}  # a sense's calibration check (SenseCheck.view)


def render_table(result: dict[str, Any], indent: str = "") -> str:
    """One scalar per line; nested mappings (per class, confusion) indented below; a list of
    records (per run) as a table with a header; calibration checks a row per sense."""
    lines: list[str] = []
    for key, value in result.items():
        if _is_check(value):
            lines += [f"{indent}{key}:", *_records(_check_rows(value), indent + "  ")]
        elif _is_checks(value):
            of = key.removeprefix("per_")  # per_episode: a column "episode"
            rows = [{of: name, **row} for name, check in value.items()
                    for row in _check_rows(check)]  # fmt: skip
            lines += [f"{indent}{key}:", *_records(rows, indent + "  ")]
        elif isinstance(value, dict):
            lines += [f"{indent}{key}:", render_table(value, indent + "  ")]
        elif _is_records(value):
            lines += [f"{indent}{key}:", *_records(value, indent + "  ")]
        else:
            lines.append(f"{indent}{key:<{26 - len(indent)}} {_fmt(value)}")
    return "\n".join(lines)


def _is_check(value: Any) -> bool:
    """Each sense's calibration check: {sense: {judged, levels, verdict}}."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(v, dict) and v.keys() == CHECK_KEYS for v in value.values())
    )


def _is_checks(value: Any) -> bool:
    """Calibration checks by episode or run (one that judged nothing is {})."""
    if not isinstance(value, dict) or not any(map(_is_check, value.values())):
        return False
    return all(check == {} or _is_check(check) for check in value.values())


def _check_rows(check: dict[str, Any]) -> list[dict[str, Any]]:
    """A row per sense: judged, how many times as often as promised each level was reached
    (1e-2: one healthy score in 100), the verdict."""
    return [
        {"sense": sense, "judged": counted["judged"],
         **{f"1e-{lv['decades']}": f"{times_promised(lv['ratio'])}x" for lv in counted["levels"]},
         "verdict": counted["verdict"]}
        for sense, counted in check.items()
    ]  # fmt: skip


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
