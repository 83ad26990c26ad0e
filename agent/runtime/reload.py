"""SIGHUP: re-read the config and swap device pipelines without losing or repeating an alarm.

What a reload keeps: the outbox, the publisher, the broker link and the event sequence, so
queued alarms still go out in order and numbering goes on. Per device (matched by `id`):
- unchanged: its pipeline keeps running untouched;
- changed: a new pipeline replaces it and inherits its open alarm, so the next event is an
  `updated` or `cleared` with the same id, never a second `raised`;
- added: a new pipeline starts;
- removed: its pipeline stops. An alarm it had open is cleared with reason
  `device_removed` (nobody watches the device any more, so none would ever clear it), and
  its retained state stays as last published.
Inspection rounds carry on, a round in progress included, on the new pipelines; only a change
of the `inspection` section starts a new scheduler with its settings.
Broker, site, storage, dashboard, metrics and fleet changes need a restart and are refused, as is
any config that does not validate or whose models do not load; the running config then stays
in force.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from agent.config.device import AgentConfig, DeviceConfig
from agent.config.loader import ConfigError
from agent.core.alarms import ClearReason
from agent.inference.session import ModelError
from agent.learning.store import LearnedStore
from agent.runtime.channels import build_channels
from agent.runtime.pipeline import DevicePipeline
from agent.runtime.systemd import notify
from agent.sinks.base import Sink
from agent.sinks.mqtt.topics import Topics

log = logging.getLogger(__name__)

RESTART_ONLY = ("broker", "site", "storage", "dashboard", "metrics", "fleet")


class ConfigLoader(Protocol):
    """Reads the config the agent runs: its file, with the bundles in use (`running`: these
    bundle versions instead of those recorded as in use)."""

    def __call__(self, running: Mapping[str, str] | None = None) -> AgentConfig: ...


class ReloadRefusedError(Exception):
    """The new config cannot be applied while running; the old one stays in force."""


@dataclass(frozen=True, slots=True)
class ReloadPlan:
    """Device ids by what a reload does to them."""

    keep: list[str]
    replace: list[str]
    add: list[str]
    remove: list[str]


def plan_reload(old: AgentConfig, new: AgentConfig) -> ReloadPlan:
    """Compare two configs device by device; refuse changes that need a restart."""
    changed = [name for name in RESTART_ONLY if getattr(old, name) != getattr(new, name)]
    if changed:
        raise ReloadRefusedError(f"changing {', '.join(changed)} needs a restart")
    before = {d.id: d for d in old.devices}
    after = {d.id: d for d in new.devices}
    return ReloadPlan(
        keep=[i for i in after if i in before and before[i] == after[i]],
        replace=[i for i in after if i in before and before[i] != after[i]],
        add=[i for i in after if i not in before],
        remove=[i for i in before if i not in after],
    )


def build_pipeline(
    device: DeviceConfig,
    topics: Topics,
    sequence: Iterator[int],
    sink_for: Callable[[DeviceConfig], Sink],
    learned: LearnedStore | None = None,
) -> DevicePipeline:
    """One device's pipeline with its sources and models (loads the ONNX files), scoring with
    what it learned of its own normal when `learned` holds a version for it."""
    channels = build_channels(device)
    return DevicePipeline(device, channels, sink_for(device), topics, sequence, learned)


async def build_pipelines(
    devices: list[DeviceConfig],
    topics: Topics,
    sequence: Iterator[int],
    sink_for: Callable[[DeviceConfig], Sink],
    learned: LearnedStore | None = None,
) -> dict[str, DevicePipeline]:
    """New pipelines, their models loaded in a thread while the old ones keep running."""
    pipelines = {}
    for device in devices:
        pipelines[device.id] = await asyncio.to_thread(
            build_pipeline, device, topics, sequence, sink_for, learned
        )
    return pipelines


def inherit_alarm(old: DevicePipeline, new: DevicePipeline) -> None:
    """The replacement carries on the open alarm (same id, raised_at, last severity)."""
    new.carry_on(old)


def clear_removed_alarm(pipeline: DevicePipeline) -> None:
    """A removed device's open alarm is cleared, reason `device_removed`: none else would."""
    alarm = pipeline.close_alarm(ClearReason.DEVICE_REMOVED)
    if alarm is not None:
        log.warning(
            "device removed with an open alarm; it is cleared",
            extra={"fields": {"device": pipeline.device, "alarm_id": alarm.id}},
        )


async def reload_on_request(
    requested: asyncio.Event,
    load: Callable[[], AgentConfig],
    apply: Callable[[AgentConfig], Awaitable[ReloadPlan]],
) -> None:
    """Each time `requested` is set: load the config and apply it, or log why not."""
    while True:
        await requested.wait()
        requested.clear()
        notify("RELOADING=1")
        try:
            config = await asyncio.to_thread(load)  # reading is bounded, but never on the loop
            await apply(config)
        except ConfigError as exc:
            log.error(
                f"config reload rejected, keeping the running config\n{exc.report()}",
                extra={"fields": {"source": exc.source, "problems": exc.problems}},
            )
        except (ReloadRefusedError, ModelError) as exc:
            log.error(f"config reload rejected, keeping the running config: {exc}")
        except Exception:  # a reload must never take the running agent down
            log.exception("config reload failed, keeping the running config")
        notify("READY=1")
