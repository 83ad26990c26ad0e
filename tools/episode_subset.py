"""A subset of a folder of episodes (docs/episodes.md): some of them, some of their streams.

    python -m tools.episode_subset --data ../episodes --include 'dev/*' --streams sensor --out DIR

Replaying one sense's streams alone is how a change to that sense is measured in a minute
instead of half an hour. Each episode whose folder (relative to --data) matches --include and
that has at least one of --streams is written to the same place under --out, with only those
streams, `thermal_calibration` only with `thermal`, and only the faults whose `senses` name one
of the streams kept (the others' seconds are healthy for these streams). Every file a kept
stream names (its CSV, and for an index each frame or clip, pool files included) is linked at
the same relative path, or copied where it cannot be linked.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from agent.apps.evaluate.episodes.format import EPISODE_FILE, STREAMS, episode_files, read_episode
from agent.config.loader import parse_yaml, read_config_file


def subset(data: Path, out: Path, include: str, streams: set[str]) -> int:
    """Write the subset; the number of episodes written."""
    root = data.resolve()
    written = 0
    for path in episode_files(root, include):
        folder = path.parent.relative_to(root)
        episode = read_episode(path, root)  # validated (bounded, every field), or DatasetError
        document: dict[str, Any] = parse_yaml(read_config_file(path), str(path))
        kept = {key: value for key, value in document["streams"].items() if key in streams}
        if not kept:
            continue
        files = [
            path.parent / stream.get("index", stream.get("csv", "")) for stream in kept.values()
        ]
        files += [
            file
            for key in kept
            if STREAMS[key] in episode.media
            for file in episode.media[STREAMS[key]].files
        ]
        document["streams"] = kept
        document["faults"] = [f for f in document["faults"] if streams & set(f.get("senses", []))]
        if "thermal" not in kept:
            document.pop("thermal_calibration", None)
        (out / folder).mkdir(parents=True, exist_ok=True)
        (out / folder / EPISODE_FILE).write_text(yaml.safe_dump(document, sort_keys=False))
        for file in files:
            link(root, out, file.resolve())
        written += 1
    return written


def link(root: Path, out: Path, file: Path) -> None:
    """`file` (under `root`) at the same place under `out`, once."""
    target = out / file.relative_to(root)
    if target.exists():
        return
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(file, target)
    except OSError:  # another file system, or links not allowed
        shutil.copy2(file, target)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, required=True, help="a folder of episodes")
    parser.add_argument("--include", default="*", help="episode folders to keep (fnmatch)")
    parser.add_argument("--streams", default=",".join(STREAMS), help="comma-separated")
    parser.add_argument("--out", type=Path, required=True, help="a new folder")
    args = parser.parse_args(argv)
    streams = {s.strip() for s in args.streams.split(",") if s.strip()}
    if unknown := sorted(streams - set(STREAMS)):
        parser.error(f"--streams: unknown {unknown}, expected some of {list(STREAMS)}")
    if args.out.exists() and any(args.out.iterdir()):
        parser.error(f"--out: {args.out} is not empty")
    written = subset(args.data, args.out, args.include, streams)
    if not written:
        sys.exit(f"{args.data}: no episode matches {args.include!r} with {sorted(streams)}")
    print(f"{written} episodes written to {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
