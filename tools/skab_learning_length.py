"""What learning longer buys the learned sensor sense on SKAB.

SKAB's protocol learns each labelled file on its own first 400 rows (under 7 minutes), which
`edge-agent evaluate sensor` follows. An agent installed on the rig when a day's session began
would have learned longer by the time a later experiment ran. Here each labelled file is also
learned on the healthy rows of the session's files recorded before it (their labelled rows cut
out; the day's anomaly-free recording included) followed by its own first 400 rows, and then
scored exactly as `evaluate sensor` scores it: the learner and scorer the agent runs, the
shipped model's registers and window, rows 400.. counted, a row an alarm at `LEARNED_ALARM`.
A session's first file has no history and learns on its 400 rows alone in both columns.

    python -m tools.skab_learning_length --data ../shared/data/skab [--json]

Files of a session run in recording order (the first timestamp of each file); sessions are
the days of `tools.episode_sources.SKAB_SESSIONS`, both splits together.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.evaluate.sensor import (
    TRAIN_ROWS,
    Counts,
    count,
    evaluation_config,
    learned_or_refused,
    model_channels,
    model_window,
    outlier_metrics,
    read_recording,
    samples,
)
from agent.inference.loading import load_session
from tools.episode_sources import SKAB_SESSIONS
from tools.train_sensor import DEV_FILES

MODEL = Path(__file__).resolve().parents[1] / "models" / "sensor-iforest.onnx"
COLUMNS = ("own_400_rows", "session_so_far")


def first_timestamp(path: Path) -> str:
    """The `datetime` of a SKAB file's first row: files of a day sort into recording order."""
    with path.open() as handle:
        handle.readline()
        return handle.readline().split(";", 1)[0]


def skab_days() -> dict[str, list[str]]:
    """{day: its files}, both splits of the episodes' sessions together."""
    days: dict[str, list[str]] = {}
    for split in SKAB_SESSIONS.values():
        for day, files in split.items():
            days.setdefault(day, []).extend(files)
    return days


def in_recording_order(data: Path, days: dict[str, list[str]]) -> dict[str, list[str]]:
    """Each day's files sorted by their first row's time."""
    return {
        day: sorted(files, key=lambda f: first_timestamp(data / f)) for day, files in days.items()
    }


def evaluate(
    data: Path, model: Path = MODEL, days: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """Per labelled file, both columns' counts and metrics; totals over all, held-out, dev.
    `days` names the files of each session (default: SKAB's, `skab_days`)."""
    session = load_session(model)
    channels = model_channels(session)
    config = evaluation_config(channels).model_copy(update={"window": model_window(session)})
    per_file: list[dict[str, Any]] = []
    for day, files in in_recording_order(data, days or skab_days()).items():
        history: list[np.ndarray] = []
        for file in files:
            recording = read_recording(data / file, channels)
            if recording.anomaly is None:  # the day's anomaly-free recording: history only
                history.append(recording.values)
                continue
            rows = samples(channels, recording.values)
            longer = samples(channels, np.concatenate([*history, recording.values[:TRAIN_ROWS]]))
            truth = recording.anomaly[TRAIN_ROWS:]
            entry: dict[str, Any] = {"file": file, "session": day, "learning_rows": len(longer)}
            for column, learning_rows in zip(COLUMNS, (None, longer), strict=True):
                flags, refused = learned_or_refused(config, rows, learning_rows)
                counts = count(truth, flags[TRAIN_ROWS:])
                entry[column] = {**outlier_metrics(counts), **asdict(counts), "refused": refused}
            per_file.append(entry)
            history.append(recording.values[~recording.anomaly])
            print(f"{file}: learned on {len(longer)} rows", file=sys.stderr, flush=True)
    groups = {
        "all": per_file,
        "held_out": [e for e in per_file if e["file"] not in DEV_FILES],
        "development": [e for e in per_file if e["file"] in DEV_FILES],
    }
    return {
        "model": session.version,
        "per_file": per_file,
        **{name: {c: totals(entries, c) for c in COLUMNS} for name, entries in groups.items()},
    }


def totals(entries: list[dict[str, Any]], column: str) -> dict[str, Any]:
    """Pooled counts of one column over some files, and their F1, FAR and MAR."""
    counts = sum(
        (Counts(**{k: e[column][k] for k in ("tp", "fp", "fn", "tn")}) for e in entries),
        Counts(0, 0, 0, 0),
    )
    return {**outlier_metrics(counts), "files": len(entries)}


def table(report: dict[str, Any]) -> str:
    """The report as a Markdown table: per file, then the pooled rows."""
    lines = [
        "| file | learning rows | own 400 rows: F1 / FAR % / MAR %"
        " | session so far: F1 / FAR % / MAR % |",
        "|---|---|---|---|",
    ]
    for e in report["per_file"]:
        cells = [" / ".join(f"{e[c][k]:g}" for k in ("f1", "far", "mar")) for c in COLUMNS]
        lines.append(f"| `{e['file']}` | {e['learning_rows']} | {cells[0]} | {cells[1]} |")
    for name in ("all", "held_out", "development"):
        cells = [
            " / ".join(f"{report[name][c][k]:g}" for k in ("f1", "far", "mar")) for c in COLUMNS
        ]
        files = report[name][COLUMNS[0]]["files"]
        lines.append(f"| **{name}** ({files} files) | | {cells[0]} | {cells[1]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="SKAB's data folder")
    parser.add_argument("--model", type=Path, default=MODEL, help="gives the registers, window")
    parser.add_argument("--json", action="store_true", help="the report as one JSON object")
    args = parser.parse_args()
    report = evaluate(args.data, args.model)
    print(json.dumps(report, indent=2) if args.json else table(report))


if __name__ == "__main__":
    main()
