"""The dashboard process: MQTT bridge, history pruning and the web server, run together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from agent.apps.dashboard.app import Dashboard, build_app
from agent.apps.dashboard.auth import TokenGate, require_token_off_loopback
from agent.apps.dashboard.history import History, HistoryDatabaseError, masked
from agent.apps.dashboard.history_sqlite import SqliteHistory
from agent.apps.dashboard.ingest import Ingest
from agent.apps.dashboard.live import Hub, LiveView
from agent.config.base import overridden
from agent.config.dashboard import DashboardConfig
from agent.config.device import AgentConfig, BrokerConfig, StorageConfig
from agent.sinks.mqtt.link import MqttLink
from agent.sinks.mqtt.topics import ANY, Topics

log = logging.getLogger(__name__)
PRUNE_EVERY_S = 3600.0


@dataclass(frozen=True, slots=True)
class DashboardSettings:
    """What `edge-agent dashboard` runs with: the config's sections plus command-line overrides."""

    broker: BrokerConfig
    dashboard: DashboardConfig
    storage: StorageConfig

    @property
    def history_file(self) -> Path:
        """The config's history_file, else dashboard.sqlite in the agent's storage folder."""
        return self.dashboard.history_file or self.storage.resolved() / "dashboard.sqlite"


def settings_from(
    config: AgentConfig | None,
    broker: tuple[str, int] | None,
    prefix: str | None,
    bind: str | None,
    port: int | None,
) -> DashboardSettings:
    """The config's broker and dashboard sections (defaults without one), then the overrides."""
    host, broker_port = broker or (None, None)
    broker_section = config.broker if config else BrokerConfig()
    broker_config = overridden(broker_section, host=host, port=broker_port, topic_prefix=prefix)
    dashboard = overridden(config.dashboard if config else DashboardConfig(), bind=bind, port=port)
    return DashboardSettings(
        # the agent's client id would make the broker drop whichever of the two came first
        broker=broker_config.model_copy(update={"client_id": None}),
        dashboard=dashboard,
        storage=config.storage if config else StorageConfig(),
    )


async def open_history(settings: DashboardSettings) -> tuple[History, str]:
    """The configured history and where it is (for the log); HistoryDatabaseError when the
    database cannot be used."""
    dashboard = settings.dashboard
    if dashboard.history is None:
        path = settings.history_file
        return SqliteHistory(path, dashboard.retention_days), str(path)
    try:
        from agent.apps.dashboard.history_postgres import PostgresHistory
    except ImportError as exc:
        raise HistoryDatabaseError(
            f"dashboard.history is a PostgreSQL URL but psycopg is missing ({exc}): "
            "pip install 'edge-agent[cpu,postgresql]'"
        ) from exc
    url = dashboard.history.get_secret_value()
    return await PostgresHistory.open(url, dashboard.retention_days), masked(url)


async def prune_forever(history: History) -> None:
    """Keep the history within its retention while the dashboard runs; a failed pruning
    (the database away for a while) is logged and tried again next time."""
    while True:
        try:
            await history.prune()
        except Exception as exc:
            log.error("history not pruned", extra={"fields": {
                "error": f"{type(exc).__name__}: {str(exc)[:200]}"}})  # fmt: skip
        await asyncio.sleep(PRUNE_EVERY_S)


async def exit_when(stop: asyncio.Event, server: uvicorn.Server) -> None:
    """Ask the server to finish its requests and return once `stop` is set."""
    await stop.wait()
    server.should_exit = True


async def serve(settings: DashboardSettings, stop: asyncio.Event | None = None) -> None:
    """Run until SIGINT/SIGTERM, or until `stop` is set (a dashboard inside another program);
    refuses (DashboardAuthError) an open non-loopback bind."""
    config = settings.dashboard
    require_token_off_loopback(config.bind, config.token)
    prefix = settings.broker.topic_prefix
    history, where = await open_history(settings)
    live = LiveView(config.max_devices, config.max_sites, config.snapshot_memory_bytes)
    hub = Hub()
    ingest = Ingest(prefix, live, history, hub, config.max_message_bytes, config.max_media_bytes)
    # every site under the prefix: one dashboard serves all agents that report there
    every_site = tuple(Topics(prefix, ANY).every_topic())
    bridge = MqttLink(settings.broker, None, every_site, ingest.handle)
    gate = TokenGate(config.token)
    app = build_app(Dashboard(prefix, live, history, hub, bridge, gate, ingest))
    server = uvicorn.Server(
        uvicorn.Config(app, host=config.bind, port=config.port, log_level="warning",
                       access_log=False, log_config=None, timeout_graceful_shutdown=2,
                       lifespan="off")
    )  # fmt: skip
    log.info("dashboard serving", extra={"fields": {
        "url": f"http://{config.bind}:{config.port}/", "token_required": gate.enabled,
        "history": where}})  # fmt: skip
    background = [
        asyncio.create_task(ingest.run()),
        asyncio.create_task(bridge.run()),
        asyncio.create_task(prune_forever(history)),
    ]
    if stop is not None:
        background.append(asyncio.create_task(exit_when(stop, server)))
    try:
        await server.serve()
    finally:
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await history.close()
