"""`edge-agent learn`: learn, show or roll back what devices learned of their own normal."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from agent.apps.learn.session import SourceFailed, learn_device
from agent.config.base import duration_seconds
from agent.config.device import AgentConfig, DeviceConfig
from agent.core.calibration import decades
from agent.core.calibration_check import LastDay, times_promised
from agent.learning.device import LearningProgress
from agent.learning.store import Card, LearnedStore, SavedCheck, StoreError
from agent.senses.learning import LearningRefused

LEARN_HELP = "Learn devices' own normal from their sources, or show or roll back what they learned."
EXIT_REFUSED = 1


def add_learn_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `edge-agent learn`."""
    parser.add_argument("--config", required=True, type=Path, help="YAML config file")
    parser.add_argument("--device", action="append", help="only this device (repeatable)")
    parser.add_argument(
        "--duration", type=duration_text,
        help="learn at least this long, e.g. 30m, 2h (default: the device's learning.duration_s)",
    )  # fmt: skip
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--status", action="store_true", help="show what each device learned")
    action.add_argument("--rollback", action="store_true", help="use the version before")
    parser.add_argument("--json", action="store_true", help="--status as one JSON object")


def duration_text(text: str) -> float:
    """Parse --duration."""
    seconds = duration_seconds(text)
    if seconds is None or seconds <= 0:
        raise argparse.ArgumentTypeError(f"expected a duration such as 30m or 2h, got {text!r}")
    return seconds


def selected(config: AgentConfig, names: list[str] | None) -> list[DeviceConfig]:
    """The devices named (all when none); a ValueError naming an unknown one."""
    if not names:
        return list(config.devices)
    known = {d.id: d for d in config.devices}
    if unknown := [n for n in names if n not in known]:
        raise ValueError(f"no device {', '.join(unknown)} in the config ({', '.join(known)})")
    return [known[n] for n in names]


def run_learn(config: AgentConfig, args: argparse.Namespace) -> int:
    """Do what the options ask; the exit status."""
    store = LearnedStore(config.storage.resolved())
    try:
        devices = selected(config, args.device)
        if args.status:
            print(status_text(store, devices, args.json))
            return 0
        if args.rollback:
            for device in devices:
                version = store.rollback(device.id).version
                print(f"{device.id}: version {version} in use (takes effect at the next start "
                      "or reload of the agent)")  # fmt: skip
            return 0
    except (ValueError, StoreError) as exc:
        print(f"learn: {exc}", file=sys.stderr)
        return 2
    return asyncio.run(learn_all(devices, store, args.duration))


async def learn_all(
    devices: list[DeviceConfig], store: LearnedStore, duration: float | None
) -> int:
    """Learn every device in turn; 1 if any was refused or failed."""
    status = 0
    for device in devices:
        try:
            card = await learn_device(device, store, duration, progress_printer(device.id))
        except (LearningRefused, SourceFailed, StoreError) as exc:
            print(f"\n{device.id}: not learned: {exc}", file=sys.stderr)
            status = EXIT_REFUSED
            continue
        print(f"\n{card_text(card)}")
    return status


def progress_printer(device: str) -> Any:
    """A line per second on a terminal (rewritten in place), else one per 10 %."""
    last = [-1]

    def report(progress: LearningProgress) -> None:
        senses = ", ".join(f"{s} {p:.0%}" for s, p in progress.senses.items())
        problems = f"; problems: {'; '.join(progress.problems)}" if progress.problems else ""
        line = f"{device}: learning {progress.progress:.0%} ({senses}){problems}"
        if sys.stderr.isatty():
            print(f"\r{line[:160]:<160}", end="", file=sys.stderr, flush=True)
        elif (tenth := int(progress.progress * 10)) != last[0]:
            last[0] = tenth
            print(line, file=sys.stderr, flush=True)

    return report


def when(timestamp: float) -> str:
    """UTC, to the second."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def rarity(threshold: float) -> str:
    """A calibrated threshold as a person reads it: one healthy sample in 10^d."""
    return f"{float(decades(threshold)):.1f} decades"


def card_text(card: Card) -> str:
    """What a version holds, for a person."""
    minutes = (card.learned_at - card.started_at) / 60
    lines = [
        f"{card.device}: version {card.version}, learned {when(card.learned_at)} over "
        f"{minutes:.0f} min ({card.reason})",
        f"  alarms at calibrated score >= {card.threshold:.9f} ({rarity(card.threshold)}): "
        f"{card.target_false_alarms_per_day:g} false alarm(s) a day on a healthy machine",
    ]
    for sense, part in card.senses.items():
        lines.append(
            f"  {sense}: {part.samples} samples at {part.rate_hz:.3g}/s, "
            f"alarms alone at >= {part.threshold:.9f} ({rarity(part.threshold)})"
        )
        lines += [f"    warning: {w}" for w in part.warnings]
    return "\n".join(lines)


def check_view(card: Card, saved: SavedCheck) -> dict[str, Any]:
    """The running agent's calibration check of the version as it last kept it: over the day
    to `kept_at` (`since`, and each sense's judged, levels and verdict)."""
    counted = LastDay.resumed(list(card.senses), saved.model_dump(), saved.saved_at)
    return {"kept_at": saved.saved_at, **counted.view(saved.saved_at)}


def check_text(check: dict[str, Any]) -> list[str]:
    """A kept check, a line per sense: its verdict, then how often each level was reached
    against how often a healthy machine would."""
    lines = [f"  calibration check, {when(check['since'])} to {when(check['kept_at'])}:"]
    for sense, counted in check["senses"].items():
        ratios = ", ".join(
            f"1 in 10^{lv['decades']} {times_promised(lv['ratio'])}x" for lv in counted["levels"]
        )
        lines.append(f"    {sense}: {counted['verdict']} ({counted['judged']:,} judged; "
                     f"reached as often as promised: {ratios})")  # fmt: skip
    return lines


def status_text(store: LearnedStore, devices: list[DeviceConfig], as_json: bool) -> str:
    """Each device's version in use, those kept, and the running agent's calibration check
    of the one in use (as it last kept it, every few minutes and at a stop)."""
    found: dict[str, Any] = {}
    for device in devices:
        card = store.card(device.id)
        check: dict[str, Any] | None = None
        try:
            if card and (saved := store.saved_check(device.id, card.version)):
                check = check_view(card, saved)
        except StoreError as exc:  # the agent counts anew from such a file: only said here
            check = {"error": str(exc)}
        found[device.id] = {
            "version": card.version if card else None,
            "versions": store.versions(device.id),
            "card": card.model_dump() if card else None,
            "calibration_check": check,
        }
    if as_json:
        return json.dumps({"devices": found}, indent=2)
    lines = []
    for name, entry in found.items():
        if entry["card"] is None:
            lines.append(f"{name}: nothing learned")
            continue
        card = Card.model_validate(entry["card"])
        kept = ", ".join(str(v) for v in entry["versions"])
        lines.append(f"{card_text(card)}\n  versions kept: {kept}")
        if (check := entry["calibration_check"]) is not None:
            lines += [f"  calibration check: {check['error']}"] if "error" in check else (
                check_text(check))  # fmt: skip
    return "\n".join(lines)
