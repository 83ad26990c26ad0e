"""Break an `edge-agent evaluate episodes --json` report down by the kind of episode
tools/make_episodes.py drew: faults, detected and time to detect per group, for the fusion, the
`weighted` mode and each sense alone.

Time to detect is timed from a fault's start. A growing fault starts far weaker than it ends
(docs/episodes-dataset.md), so its delay says how far it had to grow before a sense could tell;
a sudden fault's says how fast the agent decides. One p90 over both mixes the two.

With `--calibration`, the report's calibration check instead: per learned sense, how many
times as often as promised its calibrated scores reached 1 in 100, 1,000 and 10,000 in
healthy time, over all episodes and per group (noisy-but-healthy episodes are where the
machine runs differently from what it learned).

    python -m tools.episode_breakdown --report REPORT.json --manifest EPISODES/episodes.json
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.apps.evaluate.episodes.scoring import percentile
from agent.boundedfile import read_at_most
from agent.core.calibration_check import LEVELS, SenseCheck, times_promised

MAX_FILE = 64 * 1024 * 1024  # a report or manifest of thousands of episodes is a few MiB
GROWING = "growing"  # the manifest's kind of the faults that start weak and grow


def kinds(manifest: dict[str, Any]) -> dict[str, str]:
    """Each episode's kind, by its name in a report (its folder under the build)."""
    return {entry["path"]: entry["kind"] for entry in manifest["episodes"]}


def onset(kind: str) -> str:
    """`growing`, or `sudden` for every other kind with a fault."""
    return GROWING if kind == GROWING else "sudden"


def groups_of(manifest: dict[str, Any], by: str) -> dict[str, str]:
    """Each episode's group, by its name in a report: its kind, or its onset (`by`)."""
    episode_kinds = kinds(manifest)
    return episode_kinds if by == "kind" else {n: onset(k) for n, k in episode_kinds.items()}


def group(group_of: dict[str, str], name: str) -> str:
    """An episode's group; one the manifest lacks is an error."""
    if name not in group_of:
        raise SystemExit(f"{name}: not in the manifest (another build of the episodes?)")
    return group_of[name]


def grouped(per_episode: list[dict[str, Any]], group_of: dict[str, str]) -> dict[str, Any]:
    """Faults, detected and time to detect p50/p90 per group, in first-seen order; episodes
    without a fault are left out, and an episode the manifest lacks is an error."""
    groups: dict[str, dict[str, Any]] = {}
    for episode in per_episode:
        if not episode["faults"]:
            continue
        entry = groups.setdefault(
            group(group_of, episode["name"]), {"faults": 0, "detected": 0, "delays": []}
        )
        entry["faults"] += episode["faults"]
        entry["detected"] += episode["detected"]
        entry["delays"] += [d for d in episode["time_to_detect_s"] if d is not None]
    return {
        group: {
            "faults": entry["faults"],
            "detected": entry["detected"],
            "time_to_detect_s": {
                "p50": percentile(entry["delays"], 50),
                "p90": percentile(entry["delays"], 90),
            },
        }
        for group, entry in groups.items()
    }


def decided_by(report: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Each way of deciding in the report and its per-episode rows."""
    ways = {f"fusion ({report.get('mode', 'as configured')})": report["per_episode"]}
    if "weighted_mode" in report:
        ways["`weighted` mode"] = report["weighted_mode"]["per_episode"]
    for sense, figures in report.get("per_sense_alone", {}).items():
        ways[f"{sense} alone"] = figures["per_episode"]
    return ways


def breakdown(
    report: dict[str, Any], manifest: dict[str, Any], by: str
) -> dict[str, dict[str, Any]]:
    """Per way of deciding, its figures per group (`by` onset or kind)."""
    group_of = groups_of(manifest, by)
    return {way: grouped(rows, group_of) for way, rows in decided_by(report).items()}


def calibration(
    report: dict[str, Any], manifest: dict[str, Any], by: str
) -> dict[str, dict[str, Any]]:
    """Per learned sense, its calibration check over all episodes and per group (`by` onset
    or kind), summed from the report's per-episode checks."""
    group_of = groups_of(manifest, by)
    sums: dict[str, dict[str, SenseCheck]] = {}
    for name, senses in report["calibration_check"]["per_episode"].items():
        its = group(group_of, name)
        for sense, view in senses.items():
            counted = SenseCheck(view["judged"], [level["reached"] for level in view["levels"]])
            for each in ("all", its):
                sums.setdefault(sense, {}).setdefault(each, SenseCheck()).merge(counted)
    return {
        sense: {name: check.view() for name, check in groups.items()}
        for sense, groups in sums.items()
    }


def calibration_table(figures: dict[str, dict[str, Any]]) -> str:
    """Markdown: a row per sense, a column per group, each cell the scores judged and the
    times as often as promised at each level."""
    levels = "/".join(f"10^{level}" for level in LEVELS)

    def cell(got: dict[str, Any]) -> str:
        ratios = "/".join(times_promised(level["ratio"]) for level in got["levels"])
        return f"{got['judged']:,}, {ratios}"

    return markdown(figures, f"sense: judged, × promised at 1 in {levels}", str, cell)


def table(figures: dict[str, dict[str, Any]]) -> str:
    """Markdown: a row per way of deciding, a column per group."""

    def cell(got: dict[str, Any]) -> str:
        p50, p90 = (shown(got["time_to_detect_s"][q]) for q in ("p50", "p90"))
        return f"{got['detected']} / {got['faults']}, {p50} / {p90}"

    return markdown(figures, "decided by", lambda g: f"{g}: detected, p50 / p90 s", cell)


def markdown(
    figures: dict[str, dict[str, Any]],
    corner: str,
    heading: Callable[[str], str],
    cell: Callable[[dict[str, Any]], str],
) -> str:
    """A row per key of `figures`, a column per group (in first-seen order), `cell` of each
    group's figures, empty where a row has none."""
    groups = list(dict.fromkeys(g for per_group in figures.values() for g in per_group))
    lines = [
        f"| {corner} | " + " | ".join(heading(g) for g in groups) + " |",
        "|---" * (len(groups) + 1) + "|",
    ]
    for row, per_group in figures.items():
        cells = [cell(per_group[g]) if g in per_group else "" for g in groups]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def shown(seconds: float | None) -> str:
    """A delay in whole seconds, or a dash where nothing was detected."""
    return "–" if seconds is None else f"{seconds:.0f}"


def read_json(path: Path) -> dict[str, Any]:
    try:
        loaded = json.loads(read_at_most(path, MAX_FILE))
    except (OSError, ValueError) as exc:
        raise SystemExit(f"{path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise SystemExit(f"{path}: expected a JSON object")
    return loaded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--report", type=Path, required=True, help="evaluate episodes --json")
    parser.add_argument("--manifest", type=Path, required=True, help="the build's episodes.json")
    parser.add_argument("--by", choices=("onset", "kind"), default="onset")
    parser.add_argument("--calibration", action="store_true",
                        help="the calibration check per sense, not detections")  # fmt: skip
    parser.add_argument("--json", action="store_true", help="JSON instead of a Markdown table")
    args = parser.parse_args(argv)
    report, manifest = read_json(args.report), read_json(args.manifest)
    grouped_by, render = (
        (calibration, calibration_table) if args.calibration else (breakdown, table)
    )
    try:
        figures = grouped_by(report, manifest, args.by)
    except (KeyError, TypeError) as exc:
        raise SystemExit(f"not a report and a manifest of the expected shape: {exc!r}") from None
    sys.stdout.write((json.dumps(figures, indent=2) if args.json else render(figures)) + "\n")


if __name__ == "__main__":
    main()
