"""Runs the demo: simulators, broker, the real agent, and a subscriber that shows the result.

Every device starts with the version it learned from its healthy recordings (baselines.py),
so it scores calibrated and fuses by the `calibrated` rule from its first sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import os
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TextIO

import aiomqtt
import yaml
from rich.console import Console
from rich.live import Live

from agent.apps.demo.baselines import install
from agent.apps.demo.broker import BrokerAddress, demo_broker
from agent.apps.demo.summary import Deliveries, summary
from agent.apps.demo.view import DemoView
from agent.apps.simulate.modbus_server import modbus_device_server
from agent.apps.simulate.skab_replay import read_recording, recording_registers, replay
from agent.config.base import overridden
from agent.config.device import AgentConfig
from agent.config.loader import parse_config
from agent.inference.models import models_dir
from agent.observe import stages as observe
from agent.runtime.agent import Agent
from agent.senses.sensor import scorer as sensor_scorer
from agent.sinks.mqtt.topics import Topics

DEMO_DIR = Path(__file__).resolve().parent
CONFIG_PATH = DEMO_DIR / "config.yaml"
ROWS_PER_S = 20.0  # SKAB rows are 1 s apart; the demo plays them 20x faster
PLAIN_EVERY_S = 5.0


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What `edge-agent demo` was asked for."""

    duration_s: float
    broker: tuple[str, int] | None
    prefix: str
    evidence_dir: Path
    json_log: Path | None
    metrics_port: int | None = None


def demo_template() -> dict[str, Any]:
    """The bundled config as data, YAML aliases turned into independent copies.

    A JSON round trip, not deepcopy: deepcopy keeps aliased mappings shared, so setting one
    device's Modbus port would set every device's.
    """
    data = yaml.safe_load(CONFIG_PATH.read_text())
    data.pop("x-skab-registers", None)
    return json.loads(json.dumps(data))


def demo_config(template: dict[str, Any], broker: BrokerAddress, prefix: str,
                modbus_ports: dict[str, int], state_dir: Path,
                evidence_dir: Path | None = None) -> AgentConfig:  # fmt: skip
    """Point the template at the running broker and simulators, then validate it as usual."""
    data = copy.deepcopy(template)
    data["broker"].update(host=broker.host, port=broker.port, topic_prefix=prefix)
    data["storage"] = {"dir": str(state_dir)}  # a demo's alarms are not replayed next time
    if evidence_dir is not None:  # its evidence stays where the user asked (else in state_dir)
        data["storage"]["evidence"] = {"dir": str(evidence_dir.resolve())}
    for device in data["devices"]:
        if "modbus" in device["sources"]:
            device["sources"]["modbus"]["port"] = modbus_ports[device["id"]]
    os.environ.setdefault("EDGE_AGENT_MODELS", str(models_dir()))
    return parse_config(data, str(CONFIG_PATH), base_dir=DEMO_DIR)


async def start_simulators(
    stack: contextlib.AsyncExitStack, devices: list[str], rows_per_s: float = ROWS_PER_S
) -> dict[str, int]:
    """One simulated Modbus device per demo device, replaying its SKAB recording."""
    ports = {}
    for device in devices:
        recording = read_recording(DEMO_DIR / "samples" / device / "skab.csv")
        first = dict(zip(recording.channels, map(float, recording.rows[0]), strict=True))
        server = await stack.enter_async_context(
            modbus_device_server(recording_registers(recording.channels), first)
        )
        task = asyncio.create_task(replay(server, recording, rows_per_s, loop=True, lockstep=True))
        stack.callback(task.cancel)
        ports[device] = server.port
    return ports


class ReplayRateNote(logging.Filter):
    """Drops the sensor scorer's "trained on 1 Hz, polled at 20 Hz" warning.

    The demo arranges that mismatch itself (it replays the 1 Hz recordings 20x faster) and
    says so once in its opening lines, so the warning, one per device, is only noise here.
    A real `run` config still gets it.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        fields = getattr(record, "fields", {})
        return not (isinstance(fields, dict) and fields.get("event") == sensor_scorer.RATE_MISMATCH)


@contextlib.contextmanager
def replay_rate_explained() -> Iterator[None]:
    """While inside, the sensor scorer does not warn about the demo's own polling rate."""
    note = ReplayRateNote()
    sensor_scorer.log.addFilter(note)
    try:
        yield
    finally:
        sensor_scorer.log.removeFilter(note)


class MessageSink(Protocol):
    """Anything fed with the messages a subscriber receives."""

    def on_message(self, topic: str, payload: bytes) -> None: ...


async def subscribe(broker: BrokerAddress, topics: str, view: MessageSink) -> None:
    """Feed the view from the broker; reconnect if it drops."""
    while True:
        try:
            async with aiomqtt.Client(broker.host, broker.port) as client:
                await client.subscribe(topics, qos=1)
                async for message in client.messages:
                    view.on_message(str(message.topic), bytes(message.payload or b""))
        except aiomqtt.MqttError:
            await asyncio.sleep(1.0)


def announce(broker: BrokerAddress, topics: str, out: TextIO) -> None:
    """Tell the user where to watch."""
    where = "an embedded broker (no broker answered)" if broker.embedded else "the broker"
    print(f"publishing to {where} at {broker.host}:{broker.port}", file=out)
    print(f"watch the alarms: mosquitto_sub -h {broker.host} -p {broker.port} -t '{topics}' -v",
          file=out)  # fmt: skip
    print(f"the Modbus simulators replay 1 Hz recordings {ROWS_PER_S:g}x faster, polled at "
          f"{ROWS_PER_S:g} Hz, so the story fits in a minute", file=out)  # fmt: skip
    print("each machine is judged against the normal it learned from its healthy recordings",
          file=out, flush=True)  # fmt: skip


async def show(view: DemoView, until: asyncio.Event, deadline: float) -> None:
    """Live table on a terminal, plain lines otherwise, until the deadline or a stop."""
    console = Console()
    if console.is_terminal:
        with Live(view.table(), console=console, refresh_per_second=1) as live:
            while not until.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(1.0)
                live.update(view.table())
        return
    printed, next_status = 0, time.monotonic()
    while not until.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        for line in view.log[printed:]:
            print(f"ALARM {line}", flush=True)
        printed = len(view.log)
        if time.monotonic() >= next_status:
            for line in [view.progress_line(), *view.plain_status()]:
                print(line, flush=True)
            next_status += PLAIN_EVERY_S


async def run_demo(options: DemoOptions) -> str:
    """Run the whole demo and return its summary."""
    template = demo_template()
    host, port = options.broker or (template["broker"]["host"], template["broker"]["port"])
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with demo_broker(host, port) as broker, contextlib.AsyncExitStack() as stack:
        stack.enter_context(replay_rate_explained())  # the opening lines say it, once
        ports = await start_simulators(stack, [d["id"] for d in template["devices"]])
        state_dir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edge-demo-")))
        install(state_dir)  # what each device learned of its normal, in use from the start
        config = demo_config(
            template, broker, options.prefix, ports, state_dir, options.evidence_dir
        )
        config = overridden(config, metrics=overridden(config.metrics, port=options.metrics_port))
        agent = Agent(config)  # loads the models: a bad one stops the demo here
        topics = Topics(options.prefix, config.site).everything
        announce(broker, topics, sys.stdout)
        json_log = stack.enter_context(options.json_log.open("w")) if options.json_log else None
        view = DemoView(options.prefix, options.evidence_dir, json_log)
        subscriber = asyncio.create_task(subscribe(broker, topics, view))
        agent_stop = asyncio.Event()
        deliveries = stack.enter_context(observe.subscribed(Deliveries()))
        running = asyncio.create_task(agent.run(agent_stop))
        started = time.monotonic()
        await show(view, stop, started + options.duration_s)
        agent_stop.set()
        await running
        await asyncio.sleep(0.5)  # let the last messages reach the view
        subscriber.cancel()
        await asyncio.gather(subscriber, return_exceptions=True)
        seconds = time.monotonic() - started
        return summary(view, agent.pipelines, deliveries, seconds, options.evidence_dir)
