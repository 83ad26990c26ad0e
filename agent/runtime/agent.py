"""The agent process: one task group per device, the broker link, inspection, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import faulthandler
import logging
import signal
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from pydantic import BaseModel

from agent.config.device import AgentConfig, DeviceConfig
from agent.core.alarms import ClearReason, sequence_from
from agent.core.payload import cleared_payload, encode, restored_alarm
from agent.fleet.manifest import Identity
from agent.fleet.rollout import Rollout, RolloutHooks
from agent.fleet.store import BundleStore
from agent.fleet.transfer import bundle_name, bundles_topic
from agent.learning.store import LearnedStore, StoreError
from agent.observe import stages as observe
from agent.observe.metrics import exporter_for
from agent.observe.process import release_free_memory, tune_allocator
from agent.runtime.acks import Acknowledgements, AlarmWatch
from agent.runtime.inspection import InspectionScheduler
from agent.runtime.pipeline import DevicePipeline
from agent.runtime.reload import (
    ConfigLoader,
    ReloadPlan,
    build_pipeline,
    build_pipelines,
    clear_removed_alarm,
    inherit_alarm,
    plan_reload,
    reload_on_request,
)
from agent.runtime.service import serve_systemd
from agent.sinks.base import Sink
from agent.sinks.disk import StorageStatus, StorageWatch, keep_watching
from agent.sinks.evidence.recorder import EvidenceSink, EvidenceWriter, keep_retention
from agent.sinks.evidence.store import EvidenceStore, open_evidence_store
from agent.sinks.mqtt.inbound import (
    DEFAULT_MAX_DEPTH,
    ERROR,
    REFUSED,
    UNKNOWN_DEVICE,
    AckRequest,
    LearnRequest,
    RejectedMessage,
    parse_json,
    validated,
)
from agent.sinks.mqtt.link import BrokerUnavailableError, MqttLink, client_for
from agent.sinks.mqtt.outbox import AlarmKey, LastAlarmEvent, Outbox
from agent.sinks.mqtt.publisher import Publisher
from agent.sinks.mqtt.sink import MqttSink
from agent.sinks.mqtt.topics import Topics, parse_topic

log = logging.getLogger(__name__)
Request = TypeVar("Request", bound=BaseModel)  # an inbound message's model

DRAIN_TIMEOUT_S = 5.0
OUTBOX_FILE = "outbox.sqlite3"
INSPECTION_TASK = "(inspection)"  # not a valid device id, so never a device's task
TRIM_EVERY_S = 60.0  # free C heap pages go back to the system this often
# a stop that takes longer than this is a hang: every thread's stack goes to stderr (the
# journal) and the process ends with status 1, before systemd's TimeoutStopSec (30 s) kills it
STOP_DEADLINE_S = 25.0


class Agent:
    """Wires config to pipelines; `run()` returns after a stop request has been handled."""

    def __init__(self, config: AgentConfig) -> None:
        tune_allocator()  # before the models' and sources' threads allocate
        self.config = config
        self.topics = Topics(config.broker.topic_prefix, config.site)
        subscriptions = [self.topics.acks, self.topics.learns]
        if config.fleet.trusted_keys:  # takes bundles: hears of every one
            subscriptions.append(bundles_topic(config.broker.topic_prefix))
        self.link = MqttLink(
            config.broker,
            self.topics.status,
            subscriptions=tuple(subscriptions),
            on_message=self._on_message,
        )
        self.fleet_store = BundleStore(config.storage.resolved() / "fleet")
        self.rollout: Rollout | None = None  # taking bundles: set by run() given a loader
        self.acks = Acknowledgements()  # before the pipelines: their sinks report to it
        self.outbox_path = config.storage.resolved() / OUTBOX_FILE
        self.storage = StorageWatch.for_config(config.storage, self.outbox_path, None)
        self.outbox = Outbox(self.outbox_path, on_full=self.storage.report_full)
        sequence = sequence_from(self.outbox.last_seq() + 1)  # continues across restarts
        left_open = self.outbox.open_alarms()
        self._clear_removed(left_open, sequence)  # before the publisher: not late, not replayed
        evidence = config.storage.evidence
        self.evidence_store: EvidenceStore | None = None
        if evidence.enabled:
            self.evidence_store = open_evidence_store(config.storage, self.outbox_path)
            self.storage.evidence_bytes = self.evidence_store.total_bytes
        self.publisher = Publisher(self.link, self.outbox, evidence=self.evidence_store)
        self.evidence_writer = None
        if self.evidence_store is not None:
            self.evidence_writer = EvidenceWriter(
                self.evidence_store, self.publisher, self.topics, self.storage
            )
        self.storage.check()
        self.storage.listeners.append(self._storage_changed)
        self.learned = LearnedStore(config.storage.resolved())
        self.pipelines = [
            build_pipeline(device, self.topics, sequence, self._sink_for, self.learned)
            for device in config.devices
        ]
        self._restore(left_open)
        self.sequence = sequence  # reloaded pipelines go on numbering from it
        self._tasks: dict[str, asyncio.Task[None]] = {}  # device id -> its pipeline's task
        self._reloading = asyncio.Lock()
        self.inspection = self._new_scheduler()
        self.metrics = exporter_for(config.metrics, self.pipelines, self.publisher, self.storage)

    def _clear_removed(self, left_open: dict[str, LastAlarmEvent], sequence: Iterator[int]) -> None:
        """Alarms a previous run left open on devices no longer configured: cleared now, with
        reason `device_removed`, from what their last event said."""
        configured = {device.id for device in self.config.devices}
        for device, last in left_open.items():
            if device in configured:
                continue
            seq = next(sequence)
            payload = cleared_payload(last.payload, seq, time.time(), ClearReason.DEVICE_REMOVED)
            key = AlarmKey(device, last.alarm_id, str(payload["event"]))
            self.outbox.add(seq, self.topics.alarm(device), encode(payload), alarm=key)
            fields = {"device": device, "alarm_id": last.alarm_id, "seq": seq,
                      "reason": str(ClearReason.DEVICE_REMOVED)}  # fmt: skip
            log.info("alarm cleared", extra={"fields": fields})

    def _restore(self, left_open: dict[str, LastAlarmEvent]) -> None:
        """Each configured device starts with the alarm a previous run left open, if any."""
        for pipeline in self.pipelines:
            last = left_open.get(pipeline.device)
            if last is None:
                continue
            try:
                alarm = restored_alarm(last.payload)
            except (KeyError, TypeError, ValueError) as exc:  # never one bad row stops a start
                problem = {"device": pipeline.device, "alarm_id": last.alarm_id, "error": str(exc)}
                log.warning("open alarm not restored", extra={"fields": problem})
                continue
            pipeline.restore(alarm)
            self.acks.seen(alarm.id, pipeline.device)
            fields: dict[str, object] = {
                "device": pipeline.device,
                "alarm_id": alarm.id,
                "seq": last.seq,
            }
            log.info("open alarm restored", extra={"fields": fields})

    @property
    def pending_events(self) -> int:
        """Alarm events decided but not yet confirmed by the broker."""
        return self.publisher.pending_events

    @property
    def acknowledged(self) -> dict[str, dict[str, object]]:
        """Accepted acknowledgements by alarm id (open or recently seen alarms only)."""
        return dict(self.acks.accepted)

    @property
    def link_failure(self) -> str | None:
        """Why the broker link gave up, or None while it runs."""
        return self.link.failure

    def _on_message(self, topic: str, payload: bytes) -> None:
        """Operators acknowledge alarms on <prefix>/<site>/<device>/ack with {"id": ...} and
        ask a device to relearn its normal on <prefix>/<site>/<device>/learn.

        The payload is untrusted: anything wrong with it is logged in one line, counted
        (edge_agent_rejected_messages_total) and dropped; nothing it holds can raise from here.
        """
        bundle = bundle_name(self.topics.prefix, topic)
        if bundle is not None:
            if self.rollout is not None:
                self.rollout.offer(bundle, payload)
            return
        info = parse_topic(self.topics.prefix, topic)
        device = str(info.device) if info is not None else ""
        relearned = device if info is not None and info.kind == "learn" else None
        try:
            if relearned is not None:
                self._relearn(relearned, payload)
            else:
                self._acknowledge(topic, device, payload)
        except RejectedMessage as exc:
            reason, detail = exc.reason, exc.detail
        except Exception as exc:  # a bug met by a message: the link must go on regardless
            reason, detail = ERROR, f"{type(exc).__name__}: {str(exc)[:160]}"
        else:
            return
        log.warning("refused an inbound message", extra={"fields": {
            "topic": topic[:256], "reason": reason, "detail": detail}})  # fmt: skip
        observe.rejected("ack" if relearned is None else "learn", reason)

    def _inbound(self, model: type[Request], payload: bytes) -> Request:
        """The payload as `model`: RejectedMessage when too large, too deep, not JSON, invalid."""
        limit = self.config.broker.max_message_bytes
        return validated(model, parse_json(payload, limit, DEFAULT_MAX_DEPTH))

    def _relearn(self, device: str, payload: bytes) -> None:
        """Relearn one device, or roll it back to the version it learned before, as the
        request asks; its reason goes in the log (and, for a relearn, the state)."""
        request = self._inbound(LearnRequest, payload)
        pipeline = next((p for p in self.pipelines if p.device == device), None)
        if pipeline is None:
            raise RejectedMessage(UNKNOWN_DEVICE, device[:128])
        reason = f"MQTT request by {request.by or 'unnamed'}"
        if request.note:
            reason += f": {request.note}"
        if request.action == "relearn":
            pipeline.relearn(reason, request.duration_s)
            return
        try:
            pipeline.roll_back(reason)
        except StoreError as exc:
            raise RejectedMessage(REFUSED, str(exc)[:160]) from exc

    def _acknowledge(self, topic: str, device: str, payload: bytes) -> None:
        """An acknowledgement: accepted only for an alarm of the topic's device that this agent
        has open or saw lately."""
        ack = self._inbound(AckRequest, payload)
        open_alarms = [
            (status.active_alarm.id, pipeline.device)
            for pipeline in self.pipelines
            if (status := pipeline.status()).active_alarm is not None
        ]
        self.acks.accept(ack, device, open_alarms)
        fields = {"topic": topic[:256], "alarm_id": ack.id, "by": ack.by}
        log.info("alarm acknowledged", extra={"fields": fields})

    def _storage_changed(self, status: StorageStatus) -> None:
        """Every check: the devices' health hears of the disk; the outbox retries its writes."""
        for pipeline in self.pipelines:
            pipeline.storage_changed(status)
        self.outbox.retry()

    def _start(self, pipeline: DevicePipeline) -> None:
        pipeline.storage_changed(self.storage.status)
        self._tasks[pipeline.device] = asyncio.create_task(pipeline.run(), name=pipeline.device)

    def _start_inspection(self) -> None:
        if self.config.inspection.enabled:
            task = asyncio.create_task(self.inspection.run(), name="inspection")
            self._tasks[INSPECTION_TASK] = task

    async def _restart_inspection(self) -> None:
        """New inspection settings: a new scheduler. Otherwise a reload leaves the running one
        alone, mid-round included; it reads the pipelines from the list the reload edits."""
        await self._stop([INSPECTION_TASK])
        self.inspection = self._new_scheduler()
        self._start_inspection()

    def _new_scheduler(self) -> InspectionScheduler:
        return InspectionScheduler(
            self.config.inspection, self.pipelines, self.publisher, self.topics
        )

    async def _stop(self, names: list[str]) -> None:
        tasks = [self._tasks.pop(name) for name in names if name in self._tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def _with_learned_changes(
        self, plan: ReloadPlan, running: dict[str, DevicePipeline]
    ) -> ReloadPlan:
        """An unchanged device whose learned version in use changed on disk (a rollback, a
        `learn` run beside the agent) is replaced too, so it scores with that version."""
        moved = []
        for device in plan.keep:
            status = running[device].status()
            try:
                on_disk = self.learned.current(device)
            except StoreError as exc:
                log.warning("learned version unreadable", extra={"fields": {
                    "device": device, "error": str(exc)}})  # fmt: skip
                continue
            if status.learning is None and on_disk != status.learned_version:
                moved.append(device)
        keep = [d for d in plan.keep if d not in moved]
        return dataclasses.replace(plan, keep=keep, replace=[*plan.replace, *moved])

    async def reload(self, config: AgentConfig) -> ReloadPlan:
        """Apply a new config (see agent/runtime/reload.py); raises, changing nothing, if not.

        One at a time: SIGHUP and a fleet rollout may ask at once, and each must plan from the
        config the one before it applied, or a device would end up with two pipelines."""
        async with self._reloading:
            return await self._reload(config)

    async def _reload(self, config: AgentConfig) -> ReloadPlan:
        old = {p.device: p for p in self.pipelines}
        plan = self._with_learned_changes(plan_reload(self.config, config), old)
        devices = {d.id: d for d in config.devices}
        wanted = [devices[i] for i in plan.replace + plan.add]
        fresh = await build_pipelines(
            wanted, self.topics, self.sequence, self._sink_for, self.learned
        )
        await self._stop([*plan.replace, *plan.remove])
        for device in plan.replace:
            inherit_alarm(old[device], fresh[device])
        for device in plan.remove:
            clear_removed_alarm(old[device])
        inspection_changed = config.inspection != self.config.inspection
        self.config = config
        self.pipelines[:] = [fresh.get(d.id) or old[d.id] for d in config.devices]
        for pipeline in fresh.values():
            self._start(pipeline)
        if inspection_changed:
            await self._restart_inspection()
        if self.rollout is not None:  # new pipelines: their health names the bundles again
            self._bundles_changed(self.rollout.versions_by_device())
        log.info("config reloaded", extra={"fields": {
            "kept": plan.keep, "replaced": plan.replace, "added": plan.add, "removed": plan.remove,
        }})  # fmt: skip
        return plan

    async def run(
        self,
        stop: asyncio.Event,
        reload_requested: asyncio.Event | None = None,
        load: ConfigLoader | None = None,
    ) -> None:
        """Run until `stop` is set, then deliver what is queued and say offline.

        Each time `reload_requested` is set, `load` is called and its config applied.
        """
        log.info(
            "agent starting",
            extra={
                "fields": {
                    "site": self.config.site,
                    "devices": len(self.pipelines),
                    "outbox_pending": len(self.outbox),
                }
            },
        )
        if self.metrics is not None:
            self.metrics.start()
        for pipeline in self.pipelines:
            self._start(pipeline)
        self._start_inspection()
        link_task = asyncio.create_task(self.link.run(), name="mqtt")
        publisher_task = asyncio.create_task(self.publisher.run(), name="publisher")
        helpers = [
            asyncio.create_task(serve_systemd(self), name="systemd"),
            asyncio.create_task(
                keep_watching(self.storage, self.config.storage.check_interval_s), name="storage"
            ),
            asyncio.create_task(keep_trimming(TRIM_EVERY_S), name="trim"),
        ]
        if reload_requested is not None and load is not None:
            reloads = reload_on_request(reload_requested, load, self.reload)
            helpers.append(asyncio.create_task(reloads, name="reload"))
        if load is not None and self.config.fleet.trusted_keys:
            self.rollout = self._new_rollout(load)
            helpers.append(asyncio.create_task(self.rollout.run(), name="rollout"))
        evidence_tasks = self._start_evidence()
        await stop.wait()
        log.info("agent stopping")
        for task in helpers:  # first, so no reload starts pipelines after this
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await self._stop(list(self._tasks))
        await self._stop_evidence(evidence_tasks)
        if not await self.publisher.drain(DRAIN_TIMEOUT_S):
            log.warning(
                "stopping with undelivered events",
                extra={"fields": {"pending": self.publisher.pending_events}},
            )
        await self.link.announce_offline()
        for task in (publisher_task, link_task):
            task.cancel()
        await asyncio.gather(publisher_task, link_task, return_exceptions=True)
        if self.metrics is not None:
            await self.metrics.stop()
        self.outbox.close()
        if self.evidence_store is not None:
            self.evidence_store.close()
        log.info("agent stopped")

    def _new_rollout(self, load: ConfigLoader) -> Rollout:
        """Taking signed bundles (agent/fleet/rollout.py), through this agent's reload."""
        hooks = RolloutHooks(
            identity=lambda: Identity(self.config.site, tuple(d.id for d in self.config.devices)),
            load=load,
            apply=self.reload,
            failures=self._failures,
            publish=self._publish_retained,
            connect=lambda: client_for(self.config.broker, self.link.address),
            versions=self._bundles_changed,
        )
        return Rollout(
            self.config, self.fleet_store, self.learned, self.topics.prefix, self.topics.fleet,
            hooks,
        )  # fmt: skip

    def _bundles_changed(self, by_device: dict[str, dict[str, str]]) -> None:
        """Each device's health names the bundles in use that target it."""
        for pipeline in self.pipelines:
            pipeline.bundles_changed(by_device.get(pipeline.device, {}))

    def _failures(self, devices: tuple[str, ...]) -> set[str]:
        """The failed models and sources of these devices, one line each."""
        found = set()
        for status in (p.status() for p in self.pipelines if p.device in devices):
            for part, states in (("model", status.models), ("source", status.sources)):
                for modality, health in states.items():
                    if health.state == "failed":
                        found.add(f"{status.device} {modality} {part}: {health.reason}")
        return found

    async def _publish_retained(self, topic: str, payload: bytes) -> None:
        """Retained on the broker link, waiting a while for it to be up."""
        async with asyncio.timeout(self.config.broker.ack_timeout_s * 3):
            while True:
                await self.link.connected.wait()
                try:
                    await self.link.publish(topic, payload, retain=True)
                    return
                except BrokerUnavailableError:
                    await asyncio.sleep(0.5)

    def _sink_for(self, device: DeviceConfig) -> Sink:
        """The evidence sink (which publishes through MQTT) when evidence is on, else MQTT's."""
        if self.evidence_writer is None:
            return AlarmWatch(MqttSink(self.publisher), self.acks)
        interval = self.config.storage.evidence.snapshot_interval_s
        return AlarmWatch(EvidenceSink(device, self.evidence_writer, interval), self.acks)

    def _start_evidence(self) -> list[asyncio.Task[None]]:
        """The evidence writer and periodic retention, when evidence is enabled."""
        if self.evidence_writer is None or self.evidence_store is None:
            return []
        return [
            asyncio.create_task(self.evidence_writer.run(), name="evidence"),
            asyncio.create_task(keep_retention(self.evidence_store), name="retention"),
        ]

    async def _stop_evidence(self, tasks: list[asyncio.Task[None]]) -> None:
        """Let queued alarm events get their evidence and be released, then stop."""
        if self.evidence_writer is not None:
            await self.evidence_writer.drain(DRAIN_TIMEOUT_S)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def run_until_signalled(config: AgentConfig, load: ConfigLoader | None = None) -> None:
    """Run the agent until SIGINT or SIGTERM; SIGHUP reloads the config through `load`.

    From the stop signal on, the process has STOP_DEADLINE_S to end, threads included (the
    interpreter waits for every worker thread at exit): past it, all stacks are dumped and it
    exits with status 1, so a hang is seen with where it hung instead of waiting for a kill.
    """
    stop, reload_requested = asyncio.Event(), asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_within_deadline() -> None:
        if not stop.is_set():
            faulthandler.dump_traceback_later(STOP_DEADLINE_S, exit=True)
        stop.set()

    def handle(handlers: dict[signal.Signals, Callable[[], None]]) -> None:
        for sig, handler in handlers.items():
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, handler)

    if load is not None:  # a reload asked while the agent starts is taken once it runs
        handle({signal.SIGHUP: reload_requested.set})
    # building the agent loads its models (minutes on a cold Jetson) without giving the loop a
    # turn: a stop handled by the loop would wait for it, so until then SIGTERM ends at once
    agent = Agent(config)
    handle({signal.SIGINT: stop_within_deadline, signal.SIGTERM: stop_within_deadline})
    await agent.run(stop, reload_requested, load)


async def keep_trimming(every_s: float) -> None:
    """Hand the C heaps' free pages back every `every_s`, so that RSS follows what the agent
    holds rather than the most it ever held (in a thread: the heaps' locks may be busy)."""
    while True:
        await asyncio.sleep(every_s)
        await asyncio.to_thread(release_free_memory)
