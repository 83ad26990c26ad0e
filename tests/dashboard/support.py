"""Helpers for dashboard tests: the dashboard as a real process, its JSON API, and headless
Chromium."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import sys
import urllib.request
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from tests.support.mqtt import free_port, port_open

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
]  # fmt: skip


def get_json(url: str, token: str | None = None) -> Any:
    """One GET of the dashboard's JSON API, with the token as a bearer when given."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as r:
        return json.load(r)


async def poll(
    url: str, ready: Callable[[Any], bool], seconds: float = 20.0, token: str | None = None
) -> Any:
    """GET until ready(answer) holds (the dashboard ingests in the background)."""
    async with asyncio.timeout(seconds):
        while not ready(answer := await asyncio.to_thread(get_json, url, token)):  # noqa: ASYNC110 - HTTP
            await asyncio.sleep(0.2)
    return answer


def dashboard_config(
    folder: Path,
    broker_port: int,
    prefix: str,
    port: int,
    token: str | None = None,
    history: str | None = None,
) -> Path:
    """A minimal agent config whose broker and dashboard sections the dashboard reads; the
    history in `history` (a PostgreSQL URL) or else in a SQLite file in `folder`."""
    token_line = f", token: {token}" if token else ""
    store = f"history: '{history}'" if history else f"history_file: {folder / 'history.sqlite'}"
    path = folder / "dashboard.yaml"
    path.write_text(
        f"site: test-site\n"
        f"broker: {{host: 127.0.0.1, port: {broker_port}, topic_prefix: {prefix}}}\n"
        f"dashboard: {{port: {port}, {store}{token_line}}}\n"
        "devices:\n"
        "  - id: placeholder\n"
        "    sources: {modbus: {registers: [{name: a, address: 0}]}}\n"
    )
    return path


@dataclass
class RunningDashboard:
    """A dashboard process and where to reach it."""

    url: str
    process: asyncio.subprocess.Process
    log: Path

    def output(self) -> str:
        """What it printed so far (stdout and stderr)."""
        return self.log.read_text(errors="replace")


@contextlib.asynccontextmanager
async def dashboard_process(
    folder: Path,
    broker_port: int,
    prefix: str,
    token: str | None = None,
    history: str | None = None,
) -> AsyncIterator[RunningDashboard]:
    """`edge-agent dashboard` as a user starts it; stopped with SIGTERM afterwards."""
    port = free_port()
    config = dashboard_config(folder, broker_port, prefix, port, token, history)
    log = folder / "dashboard.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "dashboard", "--config", str(config),
            stdout=out, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
    running = RunningDashboard(f"http://127.0.0.1:{port}", process, log)
    try:
        async with asyncio.timeout(30):
            while not port_open("127.0.0.1", port):
                if process.returncode is not None:
                    raise RuntimeError(f"dashboard exited: {running.output()}")
                await asyncio.sleep(0.1)
        yield running
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 15)


def chromium_or_skip() -> Path:
    """Debian's Chromium, or a skip saying how to get it (tools/test.sh installs it)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip("Chromium is not installed and could not be (apt-get install -y chromium)")
    return CHROMIUM if CHROMIUM.exists() else Path(str(shutil.which("chromium")))


@contextlib.asynccontextmanager
async def browser_page(
    url: str, width: int = 1600, height: int = 1000
) -> AsyncIterator[tuple[Page, list[str]]]:
    """Headless Chromium open on `url`: the page, and the script errors it raises (a test
    asserts there were none)."""
    chromium = chromium_or_skip()
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium), args=CHROMIUM_ARGS
        )
        page = await browser.new_page(viewport={"width": width, "height": height})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url)
        try:
            yield page, errors
        finally:
            await browser.close()
