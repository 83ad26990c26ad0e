"""The demo's closing summary, computed from what the pipelines measured and what MQTT carried."""

from __future__ import annotations

from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from agent.apps.demo.view import DemoView, judged_by
from agent.core.alarms import AlarmEvent
from agent.observe import stages as observe
from agent.runtime.pipeline import DevicePipeline


class Deliveries(observe.Observer):
    """Trigger → published of each alarm event the agent delivered, by event, in ms."""

    def __init__(self) -> None:
        self.ms: defaultdict[str, list[float]] = defaultdict(list)

    def on_delivered(self, delivery: observe.Delivery) -> None:
        """Keep the event's time from its trigger sample's capture to the broker's PUBACK."""
        if delivery.trigger_to_published_s is not None:
            self.ms[delivery.event].append(delivery.trigger_to_published_s * 1000.0)


def percentile_line(values: list[float]) -> str:
    """p50/p99 of measured values, or a plain statement that there were none."""
    if not values:
        return "no samples"
    p50, p99 = np.percentile(values, [50, 99])
    return f"p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(values)}"


def summary(
    view: DemoView,
    pipelines: list[DevicePipeline],
    deliveries: Deliveries,
    seconds: float,
    evidence_dir: Path,
) -> str:
    """What happened, per device and type, and how fast."""
    lines = [f"demo summary ({seconds:.0f} s)"]
    counts = view.alarm_counts()
    for pipeline in pipelines:
        mine = {k: v for k, v in counts.items() if k[0] == pipeline.device}
        events = ", ".join(f"{event} {n} ({kind})" for (_, event, kind), n in sorted(mine.items()))
        judged = judged_by(pipeline.status().learned_version)
        lines.append(f"  {pipeline.device}: {events or 'no alarm'} [{judged}]")
    processed: Counter[str] = Counter()
    for pipeline in pipelines:
        processed.update({str(m): n for m, n in pipeline.status().processed.items()})
    lines.append("  samples scored: " + ", ".join(f"{m} {n}" for m, n in sorted(processed.items())))
    every = [v for p in pipelines for v in p.latencies_ms()]
    lines.append(f"  capture -> decision, every scored sample: {percentile_line(every)}")
    raised = deliveries.ms.get(str(AlarmEvent.RAISED), [])
    lines.append(f"  trigger -> published, raised alarms: {percentile_line(raised)}")
    every_event = [v for times in deliveries.ms.values() for v in times]
    lines.append(f"  trigger -> published, every alarm event: {percentile_line(every_event)}")
    if view.alarms:
        lines.append(f"  alarm events with their evidence: {evidence_dir}/<device>/")
    if view.evidence_files:
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(view.evidence_files.items()))
        lines.append(f"  evidence files received over MQTT: {kinds} (stored in the same folder)")
    return "\n".join(lines)
