"""Learn the demo devices' normals from their healthy bundled recordings, for `edge-agent demo`.

    python -m tools.make_demo_learned          # after tools/make_demo_samples.py

Runs the agent's own learners over each device's healthy recordings (agent/apps/demo/
baselines.py says which part and how) and replaces agent/apps/demo/learned/ with what they
learned: one version per device, card and files, which the demo copies into its storage
folder at start. Deterministic: running it again on the same samples learns the same.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from agent.apps.demo.baselines import SHIPPED, learn_demo
from agent.apps.demo.broker import BrokerAddress
from agent.apps.demo.runner import DEMO_DIR, demo_config, demo_template
from agent.config.device import DeviceConfig
from agent.learning.store import Card, LearnedStore


def demo_devices() -> list[DeviceConfig]:
    """The demo's devices as `edge-agent demo` configures them (broker and ports aside)."""
    template = demo_template()
    ids = [device["id"] for device in template["devices"]]
    with tempfile.TemporaryDirectory(prefix="demo-learn-") as state:
        broker = BrokerAddress("127.0.0.1", 1883, embedded=False)  # not contacted
        return demo_config(template, broker, "edge", dict.fromkeys(ids, 1), Path(state)).devices


def learn(storage: Path) -> dict[str, Card]:
    """Learn every demo device into `storage`/learned/ (one version each)."""
    return learn_demo(demo_devices(), DEMO_DIR / "samples", storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    shutil.rmtree(LearnedStore(SHIPPED).root, ignore_errors=True)
    for device, card in learn(SHIPPED).items():
        senses = ", ".join(f"{s} {p.samples} at {p.rate_hz:g} Hz" for s, p in card.senses.items())
        print(f"{device}: threshold {card.threshold:.7f}; {senses}")
        for sense, part in card.senses.items():
            for warning in part.warnings:
                print(f"  {sense}: {warning}")


if __name__ == "__main__":
    main()
