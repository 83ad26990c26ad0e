"""Prometheus metrics of a running agent, served at /metrics by prometheus-client.

Stage timings, samples and alarm events arrive through `agent.observe.stages` hooks as they happen;
values that are state (fused score, source health, outbox depth, broker link) are read from
the pipelines once a second on the event loop, so the HTTP thread never touches SQLite or
pipeline internals. GPU memory appears only once a model runs on a GPU backend and NVML can
read it; on the CPU the family is absent rather than zero.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, get_args

from prometheus_client import CollectorRegistry, Counter, Enum, Gauge, Histogram

from agent.config.metrics import MetricsConfig
from agent.core.calibration_check import Verdict
from agent.inference.backends import runs_on_gpu
from agent.observe import stages as observe
from agent.observe.gpu import gpu_memory_used_bytes
from agent.observe.scrape_server import serve_metrics
from agent.runtime.health import ModelState, SourceState
from agent.sinks.disk import DISK_STATES

if TYPE_CHECKING:
    from agent.runtime.pipeline import DevicePipeline
    from agent.sinks.disk import StorageWatch
    from agent.sinks.mqtt.publisher import Publisher

log = logging.getLogger(__name__)

PREFIX = "edge_agent"
REFRESH_S = 1.0
# 0.5 ms .. 10 s: a Modbus window is sub-millisecond, a 1080p frame on a CPU tens to hundreds.
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
SOURCE_STATES = list(get_args(SourceState))  # the health topic's states (contract C2)
MODEL_STATES = list(get_args(ModelState))


class MetricsError(Exception):
    """The metrics endpoint cannot be served (port taken, address not local)."""


class AgentMetrics(observe.Observer):
    """Every metric family of the agent, in its own registry (several agents per test process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        # per device, the state series refresh set: (metric, its labels)
        self._device_series: dict[str, set[tuple[Any, tuple[str, ...]]]] = {}
        r = self.registry
        self.stage_seconds = Histogram(
            f"{PREFIX}_stage_seconds", "Time spent in one pipeline stage",
            ["stage", "device", "modality"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.inference_seconds = Histogram(
            f"{PREFIX}_inference_seconds", "Model run time per model and backend",
            ["model", "backend"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.capture_to_decision_seconds = Histogram(
            f"{PREFIX}_capture_to_decision_seconds",
            "From a sample's capture to the fused decision it changed",
            ["device"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.trigger_to_published_seconds = Histogram(
            f"{PREFIX}_trigger_to_published_seconds",
            "From the capture of the sample that triggered an alarm event to the broker's PUBACK",
            ["device", "event"], buckets=LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.samples_received = Counter(
            f"{PREFIX}_samples_received", "Samples delivered by a source",
            ["device", "modality"], registry=r,
        )  # fmt: skip
        self.samples_dropped = Counter(
            f"{PREFIX}_samples_dropped",
            "Frames a camera read but did not pass on (sampled at its fps, or the pipeline behind)",
            ["device", "modality"], registry=r,
        )  # fmt: skip
        self.alarm_events = Counter(
            f"{PREFIX}_alarm_events", "Alarm lifecycle events", ["device", "event"], registry=r
        )
        self.alarm_events_replayed = Counter(
            f"{PREFIX}_alarm_events_replayed",
            "Alarm events the broker acknowledged late (after an outage or a restart)",
            registry=r,
        )
        self.rejected_messages = Counter(
            f"{PREFIX}_rejected_messages",
            "Inbound MQTT messages refused, by topic kind (ack, learn) and reason (docs/mqtt.md)",
            ["topic_kind", "reason"], registry=r,
        )  # fmt: skip
        self.fused_score = Gauge(
            f"{PREFIX}_fused_score", "Latest fused score per device", ["device"], registry=r
        )
        self.learning_progress = Gauge(
            f"{PREFIX}_learning_progress",
            "Share learned of its own normal, 0 to 1, while a device learns; 1 once it has",
            ["device"], registry=r,
        )  # fmt: skip
        self.learned_version = Gauge(
            f"{PREFIX}_learned_version",
            "The learned version a device's calibrated scores use (0: none)",
            ["device"], registry=r,
        )  # fmt: skip
        self.calibration_judged = Gauge(
            f"{PREFIX}_calibration_judged",
            "Calibrated scores of a learned sense judged with no alarm open over the last day",
            ["device", "modality"], registry=r,
        )  # fmt: skip
        self.calibration_reached = Gauge(
            f"{PREFIX}_calibration_reached",
            "Of those, how many reached `decades` of rarity (healthy: judged / 10^decades)",
            ["device", "modality", "decades"], registry=r,
        )  # fmt: skip
        self.calibration_verdict = Enum(
            f"{PREFIX}_calibration_verdict",
            "Whether a learned sense's scores keep their promise: early, holds or higher",
            ["device", "modality"], states=list(get_args(Verdict)), registry=r,
        )  # fmt: skip
        self.outbox_depth = Gauge(
            f"{PREFIX}_outbox_depth", "Alarm events waiting for the broker's PUBACK", registry=r
        )
        self.mqtt_connected = Gauge(
            f"{PREFIX}_mqtt_connected", "1 while the broker connection is up", registry=r
        )
        self.source_state = Enum(
            f"{PREFIX}_source_state", "Health of each source",
            ["device", "modality"], states=SOURCE_STATES, registry=r,
        )  # fmt: skip
        self.model_state = Enum(
            f"{PREFIX}_model_state", "Health of each modality's model (a rule counts as a model)",
            ["device", "modality"], states=MODEL_STATES, registry=r,
        )  # fmt: skip
        self.disk_free = Gauge(
            f"{PREFIX}_disk_free_bytes", "Free space on the storage folder's filesystem",
            registry=r,
        )  # fmt: skip
        self.storage_bytes = Gauge(
            f"{PREFIX}_storage_bytes",
            "Size of the agent's files: the database, its -wal and -shm, the evidence files",
            ["file"], registry=r,
        )  # fmt: skip
        self.storage_state = Enum(
            f"{PREFIX}_storage_state", "The storage disk: ok, low or critical",
            states=list(DISK_STATES), registry=r,
        )  # fmt: skip
        self.outbox_in_memory = Gauge(
            f"{PREFIX}_outbox_in_memory",
            "Alarm events (or changes to them) kept in memory while the database refuses writes",
            registry=r,
        )  # fmt: skip
        self.gpu_memory: Gauge | None = None  # created when a GPU backend first runs
        self._gpu_in_use = False

    def on_stage(self, timing: observe.StageTiming) -> None:
        """Every stage into one histogram; inference also per model and backend."""
        where = timing.scope
        self.stage_seconds.labels(timing.stage.value, where.device, where.modality).observe(
            timing.seconds
        )
        if timing.stage is observe.Stage.INFERENCE:
            self.inference_seconds.labels(timing.model, timing.backend).observe(timing.seconds)
            self._gpu_in_use = self._gpu_in_use or runs_on_gpu(timing.backend)

    def on_sample(self, scope: observe.Scope, dropped: int) -> None:
        """Count a sample and the frames skipped before it."""
        self.samples_received.labels(scope.device, scope.modality).inc()
        if dropped:
            self.samples_dropped.labels(scope.device, scope.modality).inc(dropped)

    def on_decision(self, device: str, latency_s: float) -> None:
        """Capture-to-decision latency."""
        self.capture_to_decision_seconds.labels(device).observe(latency_s)

    def on_alarm_event(self, device: str, event: str) -> None:
        """Raised, updated, cleared."""
        self.alarm_events.labels(device, event).inc()

    def on_delivered(self, delivery: observe.Delivery) -> None:
        """Count replayed deliveries; time those whose trigger is known."""
        if delivery.replayed:
            self.alarm_events_replayed.inc()
        if delivery.trigger_to_published_s is not None:
            self.trigger_to_published_seconds.labels(delivery.device, delivery.event).observe(
                delivery.trigger_to_published_s
            )

    def on_rejected(self, topic_kind: str, reason: str) -> None:
        """Count a refused inbound message."""
        self.rejected_messages.labels(topic_kind, reason).inc()

    def refresh(
        self,
        pipelines: Sequence[DevicePipeline],
        publisher: Publisher,
        storage: StorageWatch | None = None,
    ) -> None:
        """Copy the current state into the gauges (runs on the event loop)."""
        if storage is not None:
            disk = storage.status
            self.disk_free.set(disk.free_bytes)
            self.storage_state.state(disk.state)
            for name, size in disk.files.items():
                self.storage_bytes.labels(name).set(size)
        self.outbox_in_memory.set(publisher.outbox.in_memory)
        for pipeline in pipelines:
            device = pipeline.device
            status = pipeline.status()
            if status.last_decision is not None:
                self._series(self.fused_score, device).set(status.last_decision.score)
            learned = status.learned_version or 0
            progress = status.learning.progress if status.learning else float(learned > 0)
            self._series(self.learning_progress, device).set(progress)
            self._series(self.learned_version, device).set(learned)
            for modality, source in status.sources.items():
                self._series(self.source_state, device, str(modality)).state(source.state)
            for modality, model in status.models.items():
                self._series(self.model_state, device, str(modality)).state(model.state)
            self._refresh_calibration(device, status.calibration_check or {})
        self._forget_devices_but({p.device for p in pipelines})
        self.outbox_depth.set(publisher.pending_events)
        self.mqtt_connected.set(1 if publisher.link.connected.is_set() else 0)
        if self._gpu_in_use:
            self._refresh_gpu_memory()

    def _series(self, metric: Any, device: str, *labels: str) -> Any:
        """The metric's series of a device, remembered so that it goes when the device does."""
        self._device_series.setdefault(device, set()).add((metric, (device, *labels)))
        return metric.labels(device, *labels)

    def _forget_devices_but(self, devices: set[str]) -> None:
        """Remove the state series of devices a reload removed: frozen, a `failed` source of a
        device that is gone would keep an alert firing for ever."""
        for gone in set(self._device_series) - devices:
            for metric, labels in self._device_series.pop(gone):
                with contextlib.suppress(KeyError):
                    metric.remove(*labels)

    def _refresh_calibration(self, device: str, senses: Mapping[str, Any]) -> None:
        for modality, check in senses.items():
            self._series(self.calibration_judged, device, modality).set(check["judged"])
            for level in check["levels"]:
                reached = self._series(
                    self.calibration_reached, device, modality, str(level["decades"])
                )
                reached.set(level["reached"])
            self._series(self.calibration_verdict, device, modality).state(check["verdict"])

    def _refresh_gpu_memory(self) -> None:
        used = gpu_memory_used_bytes()
        if used is None:
            return
        if self.gpu_memory is None:
            self.gpu_memory = Gauge(
                f"{PREFIX}_gpu_memory_used_bytes", "GPU memory in use, device 0 (NVML or CUDA)",
                registry=self.registry,
            )  # fmt: skip
        self.gpu_memory.set(used)


class MetricsExporter:
    """Serves /metrics over HTTP and keeps the state gauges fresh while the agent runs."""

    def __init__(
        self,
        config: MetricsConfig,
        pipelines: Sequence[DevicePipeline],
        publisher: Publisher,
        storage: StorageWatch | None = None,
    ) -> None:
        self.config = config
        self.metrics = AgentMetrics()
        self._pipelines = pipelines
        self._publisher = publisher
        self._storage = storage
        self._server: Any = None
        self._refresher: asyncio.Task[None] | None = None
        self._subscription = contextlib.ExitStack()

    @property
    def port(self) -> int:
        """The port actually bound (config port 0 picks a free one)."""
        if self._server is None:
            raise MetricsError("metrics are not being served")
        return int(self._server.server_port)

    def start(self) -> None:
        """Bind the port, subscribe to the hooks, start refreshing; MetricsError if it cannot."""
        port = self.config.port if self.config.port is not None else 0
        try:
            self._server, _ = serve_metrics(self.config.bind, port, self.metrics.registry)
        except OSError as exc:  # socket.gaierror included
            raise MetricsError(
                f"metrics.port: cannot serve on {self.config.bind}:{port}: {exc.strerror or exc}"
            ) from exc
        self._subscription.enter_context(observe.subscribed(self.metrics))
        self._refresher = asyncio.create_task(self._refresh_forever(), name="metrics")
        log.info("metrics served", extra={"fields": {"url": self.url}})

    @property
    def url(self) -> str:
        """Where to scrape."""
        return f"http://{self.config.bind}:{self.port}/metrics"

    async def _refresh_forever(self) -> None:
        while True:
            self.metrics.refresh(self._pipelines, self._publisher, self._storage)
            await asyncio.sleep(REFRESH_S)

    async def stop(self) -> None:
        """Stop refreshing, unsubscribe and close the port."""
        if self._refresher is not None:
            self._refresher.cancel()
            await asyncio.gather(self._refresher, return_exceptions=True)
        self._subscription.close()
        if self._server is not None:
            await asyncio.to_thread(self._server.shutdown)  # waits out its 0.5 s poll
            self._server.server_close()
            self._server = None


def exporter_for(
    config: MetricsConfig,
    pipelines: Sequence[DevicePipeline],
    publisher: Publisher,
    storage: StorageWatch | None = None,
) -> MetricsExporter | None:
    """An exporter when a metrics port is configured, else None."""
    if config.port is None:
        return None
    return MetricsExporter(config, pipelines, publisher, storage)
