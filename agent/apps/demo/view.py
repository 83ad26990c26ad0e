"""What the demo shows: a subscriber to the agent's topics, drawn live or as plain lines.

It learns everything from MQTT, as any other subscriber would, so what it shows is what
reached the broker.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from agent.core.calibration import decades
from agent.core.payload import from_learned_device
from agent.sinks.mqtt.topics import parse_topic

MODALITIES = ("image", "temperature", "audio", "sensor")
LOG_LINES = 8


def evidence_summary(alarm: dict[str, Any]) -> str:
    """One line naming what each sense saw."""
    parts = []
    evidence = alarm.get("evidence", {})
    if detections := evidence.get("image", {}).get("detections"):
        top = detections[0]
        parts.append(f"{top['class']} {top['confidence']:.2f}")
    if regions := evidence.get("temperature", {}).get("regions"):
        parts.append(f"hot region {regions[0]['max_c']:.0f}°C")
    if probabilities := evidence.get("audio", {}).get("probabilities"):
        sound = max(probabilities, key=probabilities.get)
        parts.append(f"sound {sound} {probabilities[sound]:.2f}")
    if out := evidence.get("sensor", {}).get("out_of_range"):
        parts.append("out of range: " + ", ".join(o["name"] for o in out))
    return "; ".join(parts) or "no evidence"


def judged_by(learned_version: int | None) -> str:
    """What a device's scores mean: calibrated against the version it learned, or the shipped
    models' own scores."""
    return f"learned v{learned_version} (calibrated)" if learned_version else "shipped models"


def against(score: float, threshold: float, learned: bool) -> str:
    """A score against its threshold: a learned device's in decades of rarity (their meaning
    is in the nines: 0.99999 and 0.9999999999 both read 1.00), a shipped one's as it is."""
    if learned:
        return f"{float(decades(score)):.1f}/{float(decades(threshold)):.1f} decades"
    return f"{score:.2f}/{threshold:.2f}"


def alarm_line(alarm: dict[str, Any]) -> str:
    """An alarm event as one log line."""
    score = against(alarm["score"], alarm["threshold"], from_learned_device(alarm))
    return (
        f"{alarm['decided_at'][11:19]} {alarm['device']:<9} {alarm['event']:<8} "
        f"{alarm['severity']:<8} {alarm['type']:<16} score {score} "
        f"({alarm['rule']}) — {evidence_summary(alarm)}"
    )


@dataclass
class DemoView:
    """Collects states, alarms and inspection progress; renders them on demand."""

    prefix: str  # the agent's topic prefix
    evidence_dir: Path
    json_log: TextIO | None = None
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    alarms: list[dict[str, Any]] = field(default_factory=list)
    inspection: dict[str, Any] | None = None
    log: list[str] = field(default_factory=list)
    evidence_files: Counter[str] = field(default_factory=Counter)  # received, per kind

    def on_message(self, topic: str, payload: bytes) -> None:
        """Route one MQTT message by the kind its topic names."""
        info = parse_topic(self.prefix, topic)
        if info is None or not payload or info.kind == "snapshot":
            return
        kind = info.kind
        if kind == "evidence":  # a file's bytes: the evidence store keeps it on disk
            self.evidence_files[str(info.part)] += 1
            return
        if kind == "status":
            self._record("status", {"status": payload.decode()})
            return
        message = json.loads(payload)
        if kind == "state":
            self.states[message["device"]] = message
        elif kind == "alarm":
            self.alarms.append(message)
            self.log.append(alarm_line(message))
            self._keep_evidence(message)
        elif kind == "inspection":
            self.inspection = message
        self._record(kind, message)

    def _record(self, kind: str, message: dict[str, Any]) -> None:
        if self.json_log is not None:
            self.json_log.write(json.dumps({"ts": time.time(), "kind": kind, **message}) + "\n")
            self.json_log.flush()

    def _keep_evidence(self, alarm: dict[str, Any]) -> None:
        folder = self.evidence_dir / alarm["device"]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{alarm['seq']}-{alarm['event']}.json").write_text(json.dumps(alarm, indent=2))

    def table(self) -> Group:
        """The live screen: one row per device, inspection progress, recent alarm events."""
        table = Table(title="edge-agent demo", expand=True)
        for column in ("device", "state", "judged by", *MODALITIES, "fused / threshold"):
            table.add_column(column)
        for device, state in sorted(self.states.items()):
            scores = [self._modality_cell(state, m) for m in MODALITIES]
            colour = {"alarm": "bold red", "degraded": "yellow"}.get(state["state"], "green")
            fused = self._fused(state)
            table.add_row(
                device,
                Text(state["state"], style=colour),
                judged_by(state.get("learned_version")),
                *scores,
                fused,
            )
        lines: list[RenderableType] = [table, Text(self.progress_line())]
        lines += [Text(line) for line in self.log[-LOG_LINES:]]
        return Group(*lines)

    @staticmethod
    def _modality_cell(state: dict[str, Any], modality: str) -> str:
        view = state["modalities"].get(modality)
        if view is None:
            return "-"
        if view["score"] is None:
            return "stale"
        if view.get("threshold") is not None:  # learned: decades, against its own threshold
            shown = against(view["score"], view["threshold"], True).removesuffix(" decades")
        else:
            shown = f"{view['score']:.2f}"
        return f"{shown} {view.get('label') or ''}".strip()

    @staticmethod
    def _fused(state: dict[str, Any]) -> str:
        return against(state["score"], state["threshold"], from_learned_device(state))

    def progress_line(self) -> str:
        """Inspection progress as a person reads it."""
        if not self.inspection:
            return "inspection: waiting for the first round"
        i = self.inspection
        timings = ", ".join(f"{d['device']} {d['duration_s']:.1f}s" for d in i["devices"])
        return f"inspection round {i['round']}: {i['devices_done']}/{i['devices_total']} {timings}"

    def plain_status(self) -> list[str]:
        """The same picture as plain lines, for logs and CI."""
        lines = []
        for device, state in sorted(self.states.items()):
            scores = " ".join(
                f"{m}={self._modality_cell(state, m).split(' ')[0]}" for m in MODALITIES
            )
            fused = self._fused(state)
            judged = judged_by(state.get("learned_version"))
            lines.append(f"{device:<9} {state['state']:<8} {judged} fused {fused} {scores}")
        return lines

    def alarm_counts(self) -> Counter[tuple[str, str, str]]:
        """(device, event, type) -> count."""
        return Counter((a["device"], a["event"], a["type"]) for a in self.alarms)
