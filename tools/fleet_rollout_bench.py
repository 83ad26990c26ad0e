#!/usr/bin/env python3
"""A signed rollout to N real agents, timed: applied by all, refused by all, rolled back by all.

    python -m tools.fleet_rollout_bench --agents 50
    python -m tools.fleet_rollout_bench --agents 5 --model models/sound-cnn-lstm.onnx

Starts N `edge-agent run` processes (one site each, one thermal-camera device replaying two
frames, the fleet key trusted, `rollback_window_s` short) on a broker (started when none
answers at `--broker`), waits until every one has reported on `<prefix>/<site>/fleet`, then:
1. pushes a bundle signed by the trusted key: a model file (`--model`, default the shipped
   sound model, over MQTT in chunks) and a fragment changing the device's threshold; times
   until every agent reports it applied, and checks each agent's state shows the threshold;
2. once the first bundle's watch is over (an agent considers one bundle at a time), publishes
   a bundle signed by another key (as an attacker could): until every agent has refused it
   (`unknown_key`);
3. pushes a newer bundle whose fragment points the device's frames nowhere: until every agent
   has rolled it back after its source failed.
One JSON object at the end: seconds from each push to the last agent, per step, and the
sites whose agent did not stop within STOP_TIMEOUT_S of SIGTERM (then killed), and those that
stopped with an error status (a stop past the agent's deadline: their log tail, with every
thread's stack, goes to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import aiomqtt
import cv2
import numpy as np
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.apps.demo.broker import demo_broker
from agent.cli import broker_address
from agent.fleet.bundle import Content, make_bundle, verify_bundle
from agent.fleet.signing import public_key_text, trusted_keys
from agent.fleet.transfer import publish_bundle
from agent.inference.models import models_dir

WINDOW_S = 8.0  # rollback window of the agents: the broken bundle's source fails well within
STEP_TIMEOUT_S = 600.0
STOP_TIMEOUT_S = 30.0  # an agent asked to stop that has not is reported, then killed


def frames(folder: Path) -> str:
    """Two radiometric frames of a cool scene (centi-kelvin PNGs); their glob."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(2):
        frame = np.full((60, 80), int((25.0 + 273.15) * 100), np.uint16)
        cv2.imwrite(str(folder / f"f{i}.png"), frame)
    return str(folder / "*.png")


def agent_config(folder: Path, site: str, prefix: str, broker: tuple[str, int], key: str) -> Path:
    """One agent's config: one kiln watched by a thermal camera, the fleet key trusted."""
    config = {
        "site": site,
        "broker": {"host": broker[0], "port": broker[1], "topic_prefix": prefix},
        "storage": {"dir": str(folder / "state")},
        "inspection": {"enabled": False},
        "fleet": {"trusted_keys": [key], "rollback_window_s": WINDOW_S},
        "devices": [{
            "id": "kiln-01",
            "sources": {"infrared": {"uri": frames(folder / "ir"), "fps": 1, "loop": True,
                                     "calibration": {"a": 0.01, "b": -273.15}}},
        }],
    }  # fmt: skip
    path = folder / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


class Reports:
    """Every site's latest fleet report and kiln threshold, as they arrive."""

    def __init__(self) -> None:
        self.fleet: dict[str, dict[str, Any]] = {}
        self.threshold: dict[str, float] = {}
        self.changed = asyncio.Event()

    async def listen(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            topic, payload = str(message.topic), bytes(message.payload or b"")
            if not payload:
                continue
            site = topic.split("/")[1]
            if topic.endswith("/fleet"):
                self.fleet[site] = json.loads(payload)
            elif topic.endswith("/kiln-01/state"):
                self.threshold[site] = json.loads(payload)["threshold"]
            self.changed.set()

    async def until(self, done: Callable[[], bool], since: float) -> float:
        """Seconds from `since` until `done()` holds."""
        async with asyncio.timeout(STEP_TIMEOUT_S):
            while not done():
                self.changed.clear()
                await self.changed.wait()
        return round(time.monotonic() - since, 2)

    def every(self, sites: Sequence[str], result: str, name: str, version: str) -> bool:
        return all(
            (self.fleet.get(s, {}).get("last") or {}).get("result") == result
            and self.fleet[s]["last"]["name"] == name
            and self.fleet[s]["last"]["version"] == version
            for s in sites
        )


def signed(folder: Path, key: Ed25519PrivateKey, name: str, version: str,
           contents: list[Content]) -> Path:  # fmt: skip
    make_bundle(folder, key, name, version, ["*/kiln-*"], contents)
    return folder


async def publish(
    broker: tuple[str, int], prefix: str, folder: Path, key: Ed25519PrivateKey
) -> None:
    manifest = verify_bundle(folder, trusted_keys([public_key_text(key.public_key())]), None, {})
    async with aiomqtt.Client(*broker) as client:
        await publish_bundle(client, prefix, folder, manifest.manifest)


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    key, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    trusted = public_key_text(key.public_key())
    prefix = f"rollout-bench-{uuid.uuid4().hex[:6]}"
    sites = [f"site-{i:02d}" for i in range(args.agents)]
    async with demo_broker(*args.broker) as b, contextlib.AsyncExitStack() as stack:
        broker = (b.host, b.port)
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="rollout-bench-")))
        reports = Reports()
        client = await stack.enter_async_context(aiomqtt.Client(*broker))
        await client.subscribe(f"{prefix}/#", qos=1)
        listener = asyncio.create_task(reports.listen(client))
        processes = []
        started = time.monotonic()
        for site in sites:
            config = agent_config(root / site, site, prefix, broker, trusted)
            log = stack.enter_context((root / site / "agent.log").open("wb"))
            processes.append(await asyncio.create_subprocess_exec(
                sys.executable, "-m", "agent", "--log-level", "warning", "run",
                "--config", str(config), stdout=log, stderr=log, env={**os.environ},
            ))  # fmt: skip
        try:
            ready = await reports.until(lambda: set(reports.fleet) >= set(sites), started)
            fragment = root / "tune.yaml"
            fragment.write_text("devices:\n  - id: kiln-01\n    fusion: {threshold: 0.42}\n")
            model = Path(args.model) if args.model else models_dir() / "sound-cnn-lstm.onnx"
            good = signed(root / "b-good", key, "tune", "1.0.0", [
                Content("config", fragment, "config.yaml"),
                Content("model", model, f"models/{model.name}"),
            ])  # fmt: skip
            pushed = time.monotonic()
            await publish(broker, prefix, good, key)
            applied = await reports.until(
                lambda: reports.every(sites, "applied", "tune", "1.0.0"), pushed
            )
            shown = await reports.until(
                lambda: all(reports.threshold.get(s) == 0.42 for s in sites), pushed
            )
            await asyncio.sleep(WINDOW_S + 1.0)  # its watch over: the next bundle is not held
            evil = signed(root / "b-evil", stranger, "evil", "9.0.0",
                          [Content("config", fragment, "config.yaml")])  # fmt: skip
            pushed = time.monotonic()
            await publish(broker, prefix, evil, stranger)
            refused = await reports.until(
                lambda: reports.every(sites, "refused", "evil", "?"), pushed
            )
            nowhere = root / "nowhere.yaml"
            nowhere.write_text("devices:\n  - id: kiln-01\n"
                               "    sources: {infrared: {uri: /nowhere/*.png}}\n")  # fmt: skip
            broken = signed(root / "b-broken", key, "tune", "1.1.0",
                            [Content("config", nowhere, "config.yaml")])  # fmt: skip
            pushed = time.monotonic()
            await publish(broker, prefix, broken, key)
            rolled = await reports.until(
                lambda: reports.every(sites, "rolled_back", "tune", "1.1.0"), pushed
            )
            running = {s: reports.fleet[s]["running"] for s in sites}
        finally:
            for process in processes:
                with contextlib.suppress(ProcessLookupError):
                    process.terminate()
            stuck = await stopped_or_killed(processes, sites)
            listener.cancel()
            failed = {s: p.returncode for s, p in zip(sites, processes, strict=True)
                      if p.returncode != 0 and s not in stuck}  # fmt: skip
            for site in failed:  # a hung stop dumps its threads' stacks into the log
                tail = (root / site / "agent.log").read_text(errors="replace")[-4000:]
                print(f"--- {site} stopped with {failed[site]}:\n{tail}", file=sys.stderr)
    return {
        "date": datetime.now().astimezone().date().isoformat(),
        "agents": args.agents,
        "model_bytes": model.stat().st_size,
        "all_reported_s": ready,
        "applied_by_all_s": applied,
        "new_threshold_in_every_state_s": shown,
        "untrusted_refused_by_all_s": refused,
        "rolled_back_by_all_s": rolled,
        "rollback_window_s": WINDOW_S,
        "all_back_on_1.0.0": all(r == {"tune": "1.0.0"} for r in running.values()),
        "not_stopped_by_sigterm": stuck,
        "stopped_with_error": failed,
    }


async def stopped_or_killed(
    processes: Sequence[asyncio.subprocess.Process], sites: Sequence[str]
) -> list[str]:
    """Wait for the agents asked to stop; the sites of those still running after
    STOP_TIMEOUT_S, killed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_TIMEOUT_S):
            await asyncio.gather(*(p.wait() for p in processes))
    stuck = [site for site, p in zip(sites, processes, strict=True) if p.returncode is None]
    for site, process in zip(sites, processes, strict=True):
        if site in stuck:
            process.kill()
            await process.wait()
    return stuck


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--model", help="the model file the bundle carries")
    parser.add_argument("--broker", type=broker_address, default=("127.0.0.1", 1883))
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(bench(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
