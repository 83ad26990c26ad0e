"""An agent taking signed bundles: check, fetch, verify, switch through the reload path,
watch, and roll back by itself.

For every envelope the broker hands it (`<prefix>/fleet/<name>/bundle`, retained), in order:
1. the envelope's checks (signature by a trusted key, schema, targets, a newer version, the
   size limit; a version rolled back here is refused for good) before a single file moves;
2. the files fetched into `<storage>/fleet/staging/` (MQTT chunks, or HTTP(S) from the
   manifest's `url`) and each one's size and sha256 checked;
3. the bundle kept, and the config the agent would run with it (file + fragments) loaded and
   validated: a fragment that does not apply refuses the bundle, nothing switched; the
   learned baselines it brings for this agent's devices put in use as new learned versions;
4. the switch, recorded first, then applied through the agent's reload (only the devices
   whose config changed restart); a reload that fails (a model that does not load) is rolled
   back at once;
5. for `fleet.rollback_window_s` the targeted devices are watched: a model or source of
   theirs that fails (and had not before) rolls the bundle back, with the learned versions it
   put in use (unless the device learned anew since).
Each outcome is logged, counted (a refusal in `edge_agent_rejected_messages_total` as topic
kind `bundle`) and published, with the versions running, retained on `<prefix>/<site>/fleet`;
each device's health message names the bundles in use that target it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiomqtt

from agent.config.device import AgentConfig
from agent.config.loader import ConfigError
from agent.core.payload import encode, iso
from agent.fleet.bundle import ENVELOPE_FILE, FILES_DIR, BundleLimits, check_envelope, check_file
from agent.fleet.manifest import LEARNED_DIR, Identity, Manifest
from agent.fleet.refusal import BundleRefused, Reason
from agent.fleet.signing import trusted_keys
from agent.fleet.store import BundleStore, FleetStateError
from agent.fleet.transfer import download_files, fetch_files
from agent.learning.store import LearnedStore, StoreError
from agent.observe import stages as observe

log = logging.getLogger(__name__)

MAX_WAITING = 16  # envelopes waiting to be considered; the newest per name is kept
WATCH_EVERY_S = 1.0
MAX_TARGETS_KEPT = 128  # bundle versions whose targets are remembered (5 kept per name)
# every agent sees every bundle, and again at each start: these are logged at info level and
# counted, but leave the last outcome reported as it was
QUIET_REASONS = (Reason.NOT_FOR_THIS_AGENT, Reason.NOT_NEWER)


@dataclass(frozen=True, slots=True)
class RolloutHooks:
    """What the rollout needs of the agent."""

    identity: Callable[[], Identity]
    load: Callable[[Mapping[str, str]], AgentConfig]  # the config with these bundles
    apply: Callable[[AgentConfig], Awaitable[object]]  # the reload path; raises when refused
    failures: Callable[[tuple[str, ...]], set[str]]  # failed models and sources of devices
    publish: Callable[[str, bytes], Awaitable[None]]  # retained, on the agent's broker link
    connect: Callable[[], aiomqtt.Client]  # a connection of its own, to fetch files
    versions: Callable[[dict[str, dict[str, str]]], None]  # per device, the bundles in use


class Rollout:
    """The bundles of one agent."""

    def __init__(
        self,
        config: AgentConfig,
        store: BundleStore,
        learned: LearnedStore,
        prefix: str,
        report_topic: str,
        hooks: RolloutHooks,
    ) -> None:
        fleet = config.fleet
        self.trusted = trusted_keys(fleet.trusted_keys)
        self.limits = BundleLimits(max_total_bytes=int(fleet.max_bundle_mb * 1024 * 1024))
        self.window_s = fleet.rollback_window_s
        self.fetch_timeout_s = fleet.fetch_timeout_s
        self.store = store
        self.learned = learned
        self.prefix = prefix
        self.report_topic = report_topic
        self.hooks = hooks
        self._waiting: dict[str, bytes] = {}  # name -> its newest envelope not yet considered
        self._arrived = asyncio.Event()
        self.last: dict[str, Any] | None = None
        self._targeted: dict[tuple[str, str, Identity], tuple[str, ...]] = {}

    def offer(self, name: str, envelope: bytes) -> None:
        """An envelope from the broker (the link's thread of control: never waits); kept only
        within the envelope's size limit."""
        if len(envelope) > self.limits.max_envelope_bytes:
            limit = self.limits.max_envelope_bytes
            self._refused(
                name, "?", BundleRefused(Reason.TOO_LARGE, f"envelope over {limit} bytes")
            )
            return
        if name not in self._waiting and len(self._waiting) >= MAX_WAITING:
            self._refused(name, "?", BundleRefused(Reason.TOO_LARGE, "too many bundles waiting"))
            return
        self._waiting[name] = envelope
        self._arrived.set()

    async def run(self) -> None:
        """Consider envelopes as they come, one at a time, forever."""
        await self._report()
        while True:
            await self._arrived.wait()
            self._arrived.clear()
            while self._waiting:
                name = next(iter(self._waiting))
                envelope = self._waiting.pop(name)
                try:
                    await self.consider(name, envelope)
                except Exception:  # a bug must not end the rollout task
                    log.exception("bundle handling failed", extra={"fields": {"name": name}})

    async def consider(self, name: str, envelope: bytes) -> None:
        """Take one bundle as far as it goes: applied and watched, refused, or rolled back."""
        version = "?"
        try:
            running = self.store.running()
            manifest, devices = check_envelope(
                envelope, self.trusted, self.hooks.identity(), running, self.limits
            )
            version = manifest.version
            if manifest.name != name:
                raise BundleRefused(Reason.MALFORMED, f"{manifest.name} published as {name}")
            if self.store.was_rolled_back(name, version):
                raise BundleRefused(Reason.ROLLED_BACK, f"{name} {version} was rolled back here")
            staged = self.store.staging(name, version)
            try:
                (staged / ENVELOPE_FILE).write_bytes(envelope)
            except OSError as exc:  # the disk full: refused and discarded like any other
                raise BundleRefused(Reason.MISSING_FILE, f"cannot be staged: {exc}") from exc
            timeout = self.fetch_timeout_s
            if manifest.url is None:
                await fetch_files(self.hooks.connect, self.prefix, manifest, staged, timeout)
            else:
                await asyncio.to_thread(download_files, manifest, staged, timeout)
            for entry in manifest.files:
                check_file(staged / FILES_DIR / entry.path, entry)
            self.store.install(staged, name, version)
            wanted = {**running, name: version}
            try:
                config = await asyncio.to_thread(self.hooks.load, wanted)
            except ConfigError as exc:
                raise BundleRefused(Reason.INVALID_CONFIG, exc.report()[:300]) from exc
            self._adopt_learned(manifest, devices)
        except BundleRefused as exc:
            if version != "?":
                self.store.discard(name, version)
            self._refused(name, version, exc)
            if exc.reason not in QUIET_REASONS:  # those leave the last outcome as it was
                await self._report()
            return
        before = self.hooks.failures(devices)
        self.store.activate(name, version)
        self.store.prune(name)
        try:
            await self.hooks.apply(config)
        except Exception as exc:
            await self.roll_back(name, version, f"reload failed: {type(exc).__name__}: {exc}")
            return
        self._outcome("applied", name, version, "", devices)
        await self._report()
        await self._watch(name, version, devices, before)

    async def _watch(
        self, name: str, version: str, devices: tuple[str, ...], before: set[str]
    ) -> None:
        """Roll back when a targeted device fails within the window (what failed before the
        switch does not count)."""
        until = time.monotonic() + self.window_s
        while time.monotonic() < until:
            await asyncio.sleep(WATCH_EVERY_S)
            if failed := self.hooks.failures(devices) - before:
                await self.roll_back(
                    name, version, f"failed after the switch: {'; '.join(sorted(failed))}"
                )
                return
        log.info(
            "bundle kept after its watch", extra={"fields": {"name": name, "version": version}}
        )

    def _adopt_learned(self, manifest: Manifest, devices: tuple[str, ...]) -> None:
        """Put in use the learned baselines the bundle brings for this agent's devices; all
        or none (BundleRefused, invalid_learned, with those already adopted undone)."""
        files = self.store.files_dir(manifest.name, manifest.version) / LEARNED_DIR
        done: list[tuple[str, int | None]] = []
        try:
            for device in (d for d in manifest.learned_devices() if d in devices):
                before = self.learned.current(device)
                brought = self.learned.adopt(device, files / device)
                done.append((device, before))
                self.store.record_learned(manifest.name, manifest.version, device, before, brought)
        except StoreError as exc:
            for device, before in done:
                self.learned.use(device, before)
            raise BundleRefused(Reason.INVALID_LEARNED, str(exc)[:300]) from exc

    async def roll_back(self, name: str, version: str, reason: str) -> None:
        """Back to the version before (the agent's config file alone when there was none)."""
        previous = self.store.rollback(name)
        restore_learned(self.store, self.learned, name, version)
        try:
            await self.hooks.apply(await asyncio.to_thread(self.hooks.load, self.store.running()))
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            fields = {"name": name, "version": version, "error": error}
            log.critical("rollback could not be applied", extra={"fields": fields})
        self._outcome("rolled_back", name, version, f"{reason}; now {previous or 'none'}", ())
        await self._report()

    def _refused(self, name: str, version: str, exc: BundleRefused) -> None:
        observe.rejected("bundle", str(exc.reason))
        level = logging.INFO if exc.reason in QUIET_REASONS else logging.WARNING
        fields = {"name": name, "version": version, "reason": str(exc.reason), "detail": exc.detail}
        log.log(level, "bundle refused", extra={"fields": fields})
        if exc.reason not in QUIET_REASONS:
            self._outcome("refused", name, version, f"{exc.reason}: {exc.detail}", (), False)

    def _outcome(
        self, result: str, name: str, version: str, reason: str, devices: tuple[str, ...],
        log_it: bool = True,
    ) -> None:  # fmt: skip
        self.last = {"name": name, "version": version, "result": result, "reason": reason,
                     "devices": list(devices), "at": iso(time.time())}  # fmt: skip
        if log_it:
            level = logging.INFO if result == "applied" else logging.ERROR
            log.log(level, f"bundle {result}", extra={"fields": self.last})

    def versions_by_device(self) -> dict[str, dict[str, str]]:
        """Per device of this agent, the bundles in use that target it (name -> version)."""
        identity = self.hooks.identity()
        found: dict[str, dict[str, str]] = {device: {} for device in identity.devices}
        for name, version in self.store.running().items():
            for device in self._targets(name, version, identity):
                found[device][name] = version
        return found

    def _targets(self, name: str, version: str, identity: Identity) -> tuple[str, ...]:
        """This agent's devices a kept bundle targets, from its envelope checked once per
        version and identity (a kept version's envelope does not change); () when unreadable."""
        key = (name, version, identity)
        if key not in self._targeted:
            try:
                envelope = self.store.envelope(name, version)
                _, devices = check_envelope(envelope, self.trusted, identity, {}, self.limits)
            except (BundleRefused, FleetStateError) as exc:
                log.warning("bundle in use unreadable", extra={"fields": {
                    "name": name, "version": version, "error": str(exc)}})  # fmt: skip
                return ()
            if len(self._targeted) >= MAX_TARGETS_KEPT:
                self._targeted.clear()
            self._targeted[key] = devices
        return self._targeted[key]

    async def _report(self) -> None:
        """The versions running and the last outcome, retained (best effort)."""
        report = {
            "running": self.store.running(),
            "last": self.last,
            "updated_at": iso(time.time()),
        }
        self.hooks.versions(self.versions_by_device())
        try:
            await self.hooks.publish(self.report_topic, encode(report))
        except Exception as exc:
            log.warning("fleet report not published", extra={"fields": {"error": str(exc)}})


def restore_learned(store: BundleStore, learned: LearnedStore, name: str, version: str) -> None:
    """The learned versions a rolled-back bundle put in use, replaced by those before; a
    device that learned anew since keeps what it learned."""
    for device, (before, brought) in store.learned_of(name, version).items():
        try:
            if learned.current(device) == brought:
                learned.use(device, before)
        except StoreError as exc:
            log.error("learned version not restored", extra={"fields": {
                "device": device, "bundle": f"{name} {version}", "error": str(exc)}})  # fmt: skip
