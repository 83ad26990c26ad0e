"""Health of one device: each source and model, with why and since when (contract C2).

Sources are `starting`, `ok`, `degraded`, `failed` or `ended` (a finite input ran out);
models are `ok` or `failed`. A modality whose source failed or ended, or whose model failed,
is dropped from fusion. The device is `ok` when every part is, `failed` when no modality can
be judged any more, and `degraded` in between: a pump still watched by three senses of four
is degraded, not failed. Every change is logged once, with device, part, modality and reason.

`storage` is the agent's disk (agent/sinks/disk.py), shared by every device and shown in each
device's health: `ok`, `low` or `critical`, why, free MB and since when. It does not change
the device's state (its senses still judge); its free MB is refreshed while it is not `ok`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from agent.core.payload import iso
from agent.core.samples import Modality
from agent.sinks.disk import StorageStatus

log = logging.getLogger(__name__)

SourceState = Literal["starting", "ok", "degraded", "failed", "ended"]
ModelState = Literal["ok", "failed"]
DeviceState = Literal["ok", "degraded", "failed"]

UNUSABLE_SOURCE_STATES = frozenset({"failed", "ended"})


@dataclass(frozen=True, slots=True)
class PartHealth:
    """One source's or model's state, why it is so, and since when (wall clock, seconds)."""

    state: str
    reason: str
    since: float

    def view(self) -> dict[str, Any]:
        """The JSON shape on the health topic."""
        return {"state": self.state, "reason": self.reason, "since": iso(self.since)}

    def summary(self) -> str:
        """'ok', or 'failed: reason' — the compact form the state topic carries."""
        return f"{self.state}: {self.reason}" if self.reason else self.state


class DeviceHealth:
    """The health bookkeeping of one device; `on_change` is called after every change."""

    def __init__(
        self,
        device: str,
        models: Mapping[Modality, str | None],
        on_change: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.device = device
        self.model_names = dict(models)
        self.on_change = on_change
        self.clock = clock
        now = clock()
        self.sources = {m: PartHealth("starting", "", now) for m in models}
        self.models = {m: PartHealth("ok", "", now) for m in models}
        self.storage: StorageStatus | None = None
        self.bundles: dict[str, str] = {}  # the signed bundles in use that target the device
        self.updated_at = now

    def set_storage(self, status: StorageStatus) -> bool:
        """Record the disk's state; True (and on_change) when it changed, or its free MB did
        while it is not ok. Logged by the storage watch, once for the agent."""
        current = self.storage
        if current is not None and current.state == status.state:  # noqa: SIM102
            if status.state == "ok" or round(current.free_mb) == round(status.free_mb):
                return False
        self.storage = status
        self.updated_at = self.clock()
        self.on_change()
        return True

    def set_bundles(self, bundles: Mapping[str, str]) -> bool:
        """Record the bundle versions in use for the device; True (and on_change) on a change."""
        if dict(bundles) == self.bundles:
            return False
        self.bundles = dict(bundles)
        self.updated_at = self.clock()
        self.on_change()
        return True

    def set_source(self, modality: Modality, state: SourceState, reason: str = "") -> bool:
        """Record a source's state; True (and one log line) when it changed."""
        return self._set(self.sources, "source", modality, state, reason)

    def set_model(self, modality: Modality, state: ModelState, reason: str = "") -> bool:
        """Record a model's state; True (and one log line) when it changed."""
        return self._set(self.models, "model", modality, state, reason)

    def _set(
        self,
        parts: dict[Modality, PartHealth],
        part: str,
        modality: Modality,
        state: str,
        reason: str,
    ) -> bool:
        current = parts[modality]
        if (current.state, current.reason) == (state, reason):
            return False
        now = self.clock()
        parts[modality] = PartHealth(state, reason, now)
        self.updated_at = now
        level = logging.INFO if state in ("ok", "starting") else logging.WARNING
        fields = {"device": self.device, "part": part, "modality": str(modality), "state": state}
        message = f"{self.device} {modality} {part} {state}" + (f": {reason}" if reason else "")
        log.log(level, message, extra={"fields": {**fields, "reason": reason}})
        self.on_change()
        return True

    def unavailable(self) -> dict[Modality, str]:
        """Modalities fusion must drop, with the reason: source failed or ended, model failed."""
        out: dict[Modality, str] = {}
        for modality, source in self.sources.items():
            if source.state in UNUSABLE_SOURCE_STATES:
                out[modality] = source.reason or source.state
            elif self.models[modality].state == "failed":
                out[modality] = self.models[modality].reason
        return out

    def usable(self) -> Iterable[Modality]:
        """Modalities that still deliver, or may: not failed, not ended, model working."""
        unavailable = self.unavailable()
        return [m for m in self.sources if m not in unavailable]

    @property
    def state(self) -> DeviceState:
        """ok when every part is; failed when no modality is usable; degraded otherwise."""
        if not list(self.usable()):
            return "failed"
        parts = [*self.sources.values(), *self.models.values()]
        if all(p.state in ("ok", "starting") for p in parts):
            return "ok"
        return "degraded"

    def summary(self) -> dict[str, str]:
        """Per modality 'ok' or 'state: reason', the source's unless only its model failed."""
        out: dict[str, str] = {}
        for modality, source in self.sources.items():
            model = self.models[modality]
            shown = model if source.state == "ok" and model.state == "failed" else source
            out[str(modality)] = shown.summary()
        return out

    def payload(self) -> dict[str, Any]:
        """The retained message on <prefix>/<site>/<device>/health (contract C2)."""
        return {
            "device": self.device,
            "state": self.state,
            "sources": {str(m): h.view() for m, h in self.sources.items()},
            "models": {
                str(m): {**h.view(), "model": self.model_names[m]} for m, h in self.models.items()
            },
            **({"storage": self._storage_view()} if self.storage is not None else {}),
            **({"bundles": dict(sorted(self.bundles.items()))} if self.bundles else {}),
            "updated_at": iso(self.updated_at),
        }

    def _storage_view(self) -> dict[str, Any]:
        assert self.storage is not None
        return {**self.storage.view(), "since": iso(self.storage.since)}
