"""A device's learned version made on another agent, as `fleet sign --learned` bundles it."""

from __future__ import annotations

from pathlib import Path

from agent.apps.fleet.command import learned_contents
from agent.fleet.bundle import Content
from agent.learning.store import Card, LearnedStore, SenseCard
from agent.senses.learning import Learned


def learned_elsewhere(tmp_path: Path, device: str) -> list[Content]:
    """What another agent learned of `device`, as `fleet sign --learned` puts it in a bundle."""
    other = LearnedStore(tmp_path / "other-jetson")
    sense = SenseCard(samples=100, rate_hz=1.0, threshold=0.99, params={"k": 1}, summary={},
                      files=["f.bin"])  # fmt: skip
    card = Card(device=device, version=1, started_at=0.0, learned_at=60.0, reason="first",
                target_false_alarms_per_day=1.0, threshold=0.9,
                senses={"sensor": sense})  # fmt: skip
    version = other.save(card, {"sensor": Learned("sensor", 100, {"k": 1}, {}, {"f.bin": b"x"})})
    return learned_contents(device, other.folder(device, version))
