#!/usr/bin/env python3
"""The dashboard under a fleet: a dashboard process fed by `tools/fleet_sim.py`, measured.

    python -m tools.fleet_bench --agents 50 --devices 8 --duration 120
    python -m tools.fleet_bench --history postgresql://127.0.0.1:5432/edge_bench

Starts a broker when none answers (`--broker`, default 127.0.0.1:1883), a dashboard process
with its history in a fresh SQLite file (or `--history`, a PostgreSQL database: its tables
are dropped first), and the simulated fleet on a topic prefix of its own. While the fleet
publishes it measures:
- lag: from a state's `updated_at` (when the simulated agent decided it) to the dashboard's
  live event for it, read like a browser from the overview's stream (every device's tile) and
  from the page of one device (`sim-00/dev-00`: its trend points), p50 and p99 each;
- stored: trend points per second written to the history, against the states published;
- refused: the dashboard's refusal counts (`/api/ingest`), a `backlog` among them when it
  fell behind;
- in headless Chromium (`--no-browser` to skip): from opening the overview to the first
  device tile, the tiles shown, and the latency of the tiles' live events in the page (p95);
- history growth per device-day, from the database's size before and after.
One JSON object at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import shutil
import socket
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from agent.apps.demo.broker import demo_broker
from agent.cli import broker_address

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
WARM_UP_S = 5.0  # fleet running before the browser opens, so there are tiles to show
DRAIN_S = 5.0  # after the fleet stops, for the dashboard to store what it received


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_config(folder: Path, broker: tuple[str, int], prefix: str, port: int,
                 history: str | None) -> Path:  # fmt: skip
    store = f"history: '{history}'" if history else f"history_file: {folder / 'history.sqlite'}"
    path = folder / "dashboard.yaml"
    path.write_text(
        "site: bench\n"
        f"broker: {{host: {broker[0]}, port: {broker[1]}, topic_prefix: {prefix}}}\n"
        f"dashboard: {{port: {port}, {store}, max_devices: 100000}}\n"
        "devices:\n  - id: placeholder\n"
        "    sources: {modbus: {registers: [{name: a, address: 0}]}}\n"
    )
    return path


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


FOLLOWED = ("sim-00", "dev-00")  # the device whose page the bench follows


def event_time(event: dict[str, Any], kind: str) -> float | None:
    """When the simulated agent decided what a live event of `kind` shows: a trend point's
    `at`, a tile's `updated_at`; None for events of other kinds."""
    if event.get("type") != kind:
        return None
    if kind == "point":
        return float(event["point"]["at"])
    updated_at = event["tile"].get("updated_at")
    return datetime.fromisoformat(updated_at).timestamp() if updated_at else None


async def live_lags(
    url: str, query: str, kind: str, lags: list[float], stop: asyncio.Event
) -> None:
    """Read one page's event stream (`query`: the overview's, or a device page's) as a
    browser does; the lag of every event of `kind` (`device`: a tile; `point`), until `stop`."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"GET /api/events{query} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    await writer.drain()
    while not stop.is_set():
        try:
            line = await asyncio.wait_for(reader.readline(), 1.0)
        except TimeoutError:
            continue
        if not line:
            break  # the dashboard dropped this page: the lags stop here
        if not line.startswith(b"data: "):
            continue
        if (at := event_time(json.loads(line[6:]), kind)) is not None:
            lags.append(time.time() - at)
    writer.close()


async def browser_view(url: str, seconds: float) -> dict[str, Any]:
    """Open the overview in Chromium: time to the first tile, tiles, and the latency of the
    tiles' live events in the page (p95)."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = await browser.new_page()
        opened = time.monotonic()
        await page.goto(url)
        await page.wait_for_selector(".tile", timeout=60_000)
        first_tile_ms = (time.monotonic() - opened) * 1000.0
        await page.evaluate("""() => {
            window.benchLags = [];
            const source = new EventSource('/api/events');
            source.onmessage = (m) => {
              const e = JSON.parse(m.data);
              if (e.type === 'device' && e.tile.updated_at) {
                window.benchLags.push(Date.now() / 1000 - Date.parse(e.tile.updated_at) / 1000);
              }
            };
        }""")
        await asyncio.sleep(seconds)
        lags = await page.evaluate("window.benchLags")
        tiles = await page.locator(".tile").count()
        await browser.close()
    return {
        "first_tile_ms": round(first_tile_ms),
        "tiles": tiles,
        "tile_event_p95_ms": percentile_ms(lags, 95),
        "tile_events": len(lags),
    }


def percentile_ms(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)) * 1000.0, 1) if len(values) else None


async def history_bytes(folder: Path, history: str | None) -> int:
    """What the history takes on disk now."""
    if history is None:
        files = await asyncio.to_thread(lambda: list(folder.glob("history.sqlite*")))
        return sum(p.stat().st_size for p in files)
    import psycopg

    async with await psycopg.AsyncConnection.connect(history) as conn:
        row = await (await conn.execute("SELECT pg_database_size(current_database())")).fetchone()
    return int(row[0]) if row else 0


async def stored_points(folder: Path, history: str | None) -> int:
    """Trend points in the history."""
    if history is None:
        import sqlite3

        db = sqlite3.connect(f"file:{folder / 'history.sqlite'}?mode=ro", uri=True)
        try:
            return int(db.execute("SELECT count(*) FROM scores").fetchone()[0])
        finally:
            db.close()
    import psycopg

    async with await psycopg.AsyncConnection.connect(history) as conn:
        row = await (await conn.execute("SELECT count(*) FROM scores")).fetchone()
    return int(row[0]) if row else 0


async def reset_postgres(history: str) -> None:
    """An empty database: the dashboard migrates it from scratch."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(history, autocommit=True) as conn:
        for table in ("scores", "alarms", "acks", "evidence", "history_migrations"):
            await conn.execute(f"DROP TABLE IF EXISTS {table} CASCADE".encode())


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    """Run everything once; the measurements."""
    if args.history:
        await reset_postgres(args.history)
    async with demo_broker(*args.broker) as broker, contextlib.AsyncExitStack() as stack:
        folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fleet-bench-")))
        prefix = f"fleet-bench-{uuid.uuid4().hex[:8]}"
        port = free_port()
        config = write_config(folder, (broker.host, broker.port), prefix, port, args.history)
        log = stack.enter_context((folder / "dashboard.log").open("wb"))
        dashboard = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "dashboard", "--config", str(config),
            stdout=log, stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            async with asyncio.timeout(30):
                while not await port_open(port):  # noqa: ASYNC110 - nothing to wait on but TCP
                    await asyncio.sleep(0.2)
            size_before = await history_bytes(folder, args.history)
            tile_lags: list[float] = []
            point_lags: list[float] = []
            stop = asyncio.Event()
            device_page = f"?site={FOLLOWED[0]}&device={FOLLOWED[1]}"
            listeners = [
                asyncio.create_task(live_lags(url, "", "device", tile_lags, stop)),
                asyncio.create_task(live_lags(url, device_page, "point", point_lags, stop)),
            ]
            sim = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tools.fleet_sim", "--agents", str(args.agents),
                "--devices", str(args.devices), "--duration", str(args.duration),
                "--broker", f"{broker.host}:{broker.port}", "--prefix", prefix,
                "--processes", str(args.processes), stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            started = time.monotonic()
            view = None
            if args.browser:
                await asyncio.sleep(WARM_UP_S)
                view = await browser_view(url, max(1.0, args.duration - WARM_UP_S - 5.0))
            output, _ = await sim.communicate()
            elapsed = time.monotonic() - started
            await asyncio.sleep(DRAIN_S)
            stop.set()
            await asyncio.gather(*listeners)
            refused = get_json(url + "/api/ingest")["rejected"]
            points = await stored_points(folder, args.history)
            size_after = await history_bytes(folder, args.history)
        finally:
            dashboard.terminate()
            await dashboard.wait()
    published = json.loads(output.decode().strip().splitlines()[-1])
    devices = args.agents * args.devices
    return {
        "date": datetime.now().astimezone().date().isoformat(),
        "history": "postgresql" if args.history else "sqlite",
        "agents": args.agents,
        "devices": devices,
        "seconds": round(elapsed, 1),
        "published": published["published"],
        "published_per_s": published["per_second"],
        "stored_points": points,
        "stored_points_per_s": round(points / elapsed, 1),
        "overview_lag_p50_ms": percentile_ms(tile_lags, 50),
        "overview_lag_p99_ms": percentile_ms(tile_lags, 99),
        "overview_tiles": len(tile_lags),
        "device_page_lag_p50_ms": percentile_ms(point_lags, 50),
        "device_page_lag_p99_ms": percentile_ms(point_lags, 99),
        "device_page_points": len(point_lags),
        "refused": refused,
        "browser": view,
        "history_mb_per_device_day": round(
            (size_after - size_before) / elapsed * 86400.0 / devices / 2**20, 2
        ),
    }


async def port_open(port: int) -> bool:
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return False
    writer.close()
    return True


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--devices", type=int, default=8, help="per agent (default 8)")
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (default 120)")
    parser.add_argument("--processes", type=int, default=1, help="for the simulated fleet")
    parser.add_argument("--history", help="a PostgreSQL URL (default: a fresh SQLite file)")
    parser.add_argument("--broker", type=broker_address, default=("127.0.0.1", 1883))
    parser.add_argument("--no-browser", dest="browser", action="store_false")
    args = parser.parse_args(argv)
    print(json.dumps(asyncio.run(bench(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
