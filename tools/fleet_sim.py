#!/usr/bin/env python3
"""A fleet of simulated agents publishing what real agents publish, for loading a dashboard.

    python -m tools.fleet_sim --agents 50 --devices 8 --duration 600
    python -m tools.fleet_sim --agents 2 --devices 2 --duration 30 --alarms-per-device-hour 120

Each simulated agent is one MQTT client (its own asyncio task; `--processes K` spreads them
over K processes) for one site, `sim-NN`, with devices `dev-NN`. A device's senses score a
healthy noise; now and then (`--alarms-per-device-hour`, a Poisson rate) a fault lifts two
senses for `--fault-s` seconds. The scores go through the agent's own fusion and alarm
lifecycle (`Decider`), and every message is the agent's own payload on the agent's own topic:
retained state at `--state-hz`, alarm events (QoS 1), evidence files of `--evidence-bytes`
for each raised alarm, retained health every 30 s, and the site's retained `online` status
with `offline` as its will. At the end it prints what it published, per kind and per second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import aiomqtt

from agent.cli import broker_address
from agent.config.decision import AlarmConfig, FusionConfig, LocationConfig
from agent.core.deciding import Decider
from agent.core.payload import alarm_payload, encode, state_payload
from agent.core.samples import Score
from agent.runtime.health import DeviceHealth
from agent.senses.registry import SENSES, default_weights, readings
from agent.sinks.mqtt.link import OFFLINE, ONLINE
from agent.sinks.mqtt.topics import Topics

HEALTH_EVERY_S = 30.0
JPEG_MAGIC = b"\xff\xd8\xff\xe0"
HEALTHY_MEAN, HEALTHY_SD = 0.1, 0.03
FAULT_SCORES = (0.95, 0.6)  # a fault shows strongly in one sense and faintly in another
# what each shipped sense's Score carries as evidence (agent/schemas: alarm.schema.json),
# shaped by the simulated score
EVIDENCE: dict[str, Callable[[float], dict[str, Any]]] = {
    "image": lambda v: {"detections": [
        {"class": "patches", "confidence": round(v, 3), "box": [40.0, 40.0, 120.0, 110.0]}
    ] if v > 0.5 else []},
    "temperature": lambda v: {"max_c": round(30.0 + 80.0 * v, 1), "regions": []},
    "audio": lambda v: {"probabilities": {"normal": round(1.0 - v, 3), "inner_race": round(v, 3)}},
    "sensor": lambda v: {"values": {"Current": round(3.0 + 4.0 * v, 2), "Pressure": 2.1},
                         "units": {"Current": "A", "Pressure": "bar"}, "out_of_range": []},
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class SimOptions:
    """What every simulated agent does."""

    broker: tuple[str, int]
    prefix: str
    devices: int
    duration_s: float
    state_hz: float
    alarms_per_device_hour: float
    fault_s: float
    evidence_bytes: int
    seed: int


class SimDevice:
    """One device: its senses' scores, a fault now and then, decided like the agent does."""

    def __init__(
        self, site: str, name: str, rng: random.Random, options: SimOptions, now: float
    ) -> None:
        self.site = site
        self.name = name
        self.rng = rng
        self.options = options
        self.senses = tuple(SENSES)
        fusion = FusionConfig(weights=default_weights())  # what a config weighing every sense has
        self.decider = Decider(name, self.senses, fusion, AlarmConfig(),
                               iter(range(1, 1 << 62)), now)  # fmt: skip
        self.health = DeviceHealth(name, {m: SENSES[m].name for m in self.senses})
        for sense in self.senses:
            self.health.set_source(sense, "ok")
        self.fault: tuple[dict[str, float], float] | None = None  # (scores, until)

    def step(self, now: float) -> tuple[dict, dict | None]:
        """Scores at `now`, decided: the state payload and the alarm payload it causes."""
        hourly = self.options.alarms_per_device_hour / 3600.0 / self.options.state_hz
        if self.fault is None and self.rng.random() < hourly:
            senses = self.rng.sample(self.senses, len(FAULT_SCORES))
            self.fault = (dict(zip(senses, FAULT_SCORES, strict=True)), now + self.options.fault_s)
        if self.fault is not None and now >= self.fault[1]:
            self.fault = None
        faulty = self.fault[0] if self.fault is not None else {}
        for sense in self.senses:
            value = faulty.get(sense, self.rng.gauss(HEALTHY_MEAN, HEALTHY_SD))
            value = min(1.0, max(0.0, value))
            evidence = EVIDENCE[sense](value) if sense in EVIDENCE else {}
            self.decider.scores[sense] = Score(
                self.name, sense, value, "simulated", evidence, now, now, "sim@1"
            )
        decision, transition = self.decider.decide(now, {}, None, trigger=self.senses[0])
        active = self.decider.tracker.active
        state = state_payload(decision, active.id if active else None,
                              self.health.summary(), readings(decision.scores))  # fmt: skip
        alarm = None
        if transition is not None:
            alarm = alarm_payload(transition, self.site, LocationConfig())
        return state, alarm


async def run_agent(index: int, options: SimOptions, counts: Counter[str]) -> None:
    """One simulated agent until the duration is over."""
    site = f"sim-{index:02d}"
    topics = Topics(options.prefix, site)
    rng = random.Random(options.seed * 1000 + index)
    started = time.time()
    devices = [
        SimDevice(site, f"dev-{d:02d}", rng, options, started) for d in range(options.devices)
    ]
    will = aiomqtt.Will(topics.status, OFFLINE, qos=1, retain=True)
    identifier = f"fleet-sim-{site}-{uuid.uuid4().hex[:6]}"
    async with aiomqtt.Client(*options.broker, identifier=identifier, will=will) as client:
        await client.publish(topics.status, ONLINE, qos=1, retain=True)
        period = 1.0 / options.state_hz
        next_health = 0.0
        tick = started
        while (now := time.time()) - started < options.duration_s:
            for device in devices:
                state, alarm = device.step(now)
                await client.publish(topics.state(device.name), encode(state), qos=0, retain=True)
                counts["state"] += 1
                if alarm is not None:
                    await client.publish(topics.alarm(device.name), encode(alarm), qos=1)
                    counts["alarm"] += 1
                    if alarm["event"] == "raised" and options.evidence_bytes:
                        image = JPEG_MAGIC + rng.randbytes(options.evidence_bytes)
                        topic = topics.evidence(device.name, alarm["id"], alarm["seq"], "image")
                        await client.publish(topic, image, qos=1)
                        counts["evidence"] += 1
                if now >= next_health:
                    payload = encode(device.health.payload())
                    await client.publish(topics.health(device.name), payload, qos=1, retain=True)
                    counts["health"] += 1
            if now >= next_health:
                next_health = now + HEALTH_EVERY_S
            tick += period
            await asyncio.sleep(max(0.0, tick - time.time()))
        await client.publish(topics.status, OFFLINE, qos=1, retain=True)


async def run_agents(indexes: Sequence[int], options: SimOptions) -> dict[str, int]:
    """Several simulated agents in this process; what they published, per kind."""
    counts: Counter[str] = Counter()
    await asyncio.gather(*(run_agent(i, options, counts) for i in indexes))
    return dict(counts)


def run_process(indexes: Sequence[int], options: SimOptions) -> dict[str, int]:
    """`run_agents` in a process of its own."""
    return asyncio.run(run_agents(indexes, options))


def simulate(agents: int, processes: int, options: SimOptions) -> dict[str, int]:
    """Run the fleet; what it published, per kind, all processes together."""
    groups = [list(range(agents))[p::processes] for p in range(processes)]
    if processes == 1:
        return run_process(groups[0], options)
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        results = pool.starmap(run_process, [(g, options) for g in groups])
    total: Counter[str] = Counter()
    for result in results:
        total.update(result)
    return dict(total)


def main(argv: Sequence[str] | None = None) -> int:
    """Parse the options, run the fleet, print what it published."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--devices", type=int, default=8, help="per agent (default 8)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds (default 60)")
    parser.add_argument("--state-hz", type=float, default=1.0, help="per device (default 1)")
    parser.add_argument("--alarms-per-device-hour", type=float, default=2.0)
    parser.add_argument("--fault-s", type=float, default=30.0, help="how long a fault lasts")
    parser.add_argument("--evidence-bytes", type=int, default=20_000, help="0: no evidence")
    parser.add_argument("--broker", type=broker_address, default=("127.0.0.1", 1883))
    parser.add_argument("--prefix", default="edge")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    options = SimOptions(args.broker, args.prefix, args.devices, args.duration, args.state_hz,
                         args.alarms_per_device_hour, args.fault_s, args.evidence_bytes,
                         args.seed)  # fmt: skip
    started = time.monotonic()
    counts = simulate(args.agents, args.processes, options)
    elapsed = time.monotonic() - started
    rates = {k: round(v / elapsed, 1) for k, v in sorted(counts.items())}
    print(json.dumps({"agents": args.agents, "devices": args.agents * args.devices,
                      "seconds": round(elapsed, 1), "published": dict(sorted(counts.items())),
                      "per_second": rates}))  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
