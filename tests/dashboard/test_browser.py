"""The dashboard in headless Chromium, fed by `edge-agent demo` through a real broker.

The page is opened before the demo starts, so everything it shows arrives live: a message
the dashboard refused (in the header), the devices' tiles, then pump-01's alarm (without a
reload), the evidence the agent published for it (annotated frame, thermal image, sensor
window), and the acknowledgement an operator sends, which the test sees on the broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from playwright.async_api import Page

from tests.dashboard.support import browser_page, chromium_or_skip, dashboard_process
from tests.support.mqtt import Collector, MosquittoProcess, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(300)]

PREFIX = "dash"
DEVICES = ("pump-01", "motor-02", "valve-03")
ALARM_SHOWN_WITHIN_S = 10.0  # "a few seconds"; generous for a loaded CI machine
EVIDENCE_WITHIN_S = 30.0


@contextlib.asynccontextmanager
async def demo(port: int, folder: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """`edge-agent demo` on the test's broker; stopped when the test is done with it."""
    with (folder / "demo.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent", "demo", "--duration", "90",
            "--broker", f"127.0.0.1:{port}", "--prefix", PREFIX,
            "--evidence-dir", str(folder / "evidence"), stdout=log, stderr=log,
        )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.terminate()
            await asyncio.wait_for(process.wait(), 30)


def first_alarm(seen: Collector) -> dict[str, Any] | None:
    alarms = [a for a in seen.json("/alarm") if a.get("device") == "pump-01"]
    return alarms[0] if alarms else None


async def agent_published(seen: Collector, topic: str) -> None:
    """Wait until the agent has published on `topic` (evidence and snapshots, contract C1)."""
    await seen.wait_for(lambda s: any(t == topic for t, _, _ in s.messages), EVIDENCE_WITHIN_S)


async def image_loaded(page: Page, selector: str) -> None:
    await page.wait_for_selector(selector, timeout=15_000)
    await page.wait_for_function(
        f"document.querySelector('{selector}')?.naturalWidth > 0", timeout=10_000
    )


async def test_operator_sees_devices_alarm_evidence_and_acknowledges(
    private_broker: MosquittoProcess, tmp_path: Path
) -> None:
    chromium_or_skip()  # before starting anything
    port = private_broker.port
    async with (
        dashboard_process(tmp_path, port, PREFIX) as dash,
        subscribe("127.0.0.1", port, f"{PREFIX}/#") as seen,
        browser_page(dash.url + "/") as (page, errors),
    ):
        await page.wait_for_selector("#link.up", timeout=15_000)  # the live stream is open
        await page.evaluate("window.loadedOnce = true")  # gone if the page ever reloads
        assert await page.is_hidden("#refused")  # nothing refused yet
        async with aiomqtt.Client("127.0.0.1", port) as client:
            await client.publish(f"{PREFIX}/demo-plant/pump-99/state", b"not json", qos=1)
        await page.wait_for_selector("#refused:not([hidden])", timeout=15_000)
        assert await page.inner_text("#refused") == "1 message refused"
        assert await page.get_attribute("#refused", "title") == "state: not_json × 1"

        async with demo(port, tmp_path) as agent:
            for device in DEVICES:
                await page.wait_for_selector(f'.tile[data-device="{device}"]', timeout=90_000)
            await page.click('nav a[data-nav="alarms"]')

            await seen.wait_for(lambda s: first_alarm(s) is not None, 120)
            published = time.monotonic()
            alarm = first_alarm(seen)
            assert alarm is not None and agent.returncode is None
            alarm_id = str(alarm["id"])
            row = f'table.alarms tr[data-alarm-id="{alarm_id}"]'
            await page.wait_for_selector(row, timeout=ALARM_SHOWN_WITHIN_S * 1000)
            shown_after = time.monotonic() - published

            pump = f"{PREFIX}/demo-plant/pump-01"
            kinds = [file["kind"] for file in alarm["evidence_files"]]
            assert "image" in kinds and "thermal" in kinds, kinds
            for kind in kinds:
                await agent_published(seen, f"{pump}/evidence/{alarm_id}/{alarm['seq']}/{kind}")
            await page.click(row)
            detail = f'.detail[data-alarm-id="{alarm_id}"]'
            await image_loaded(page, f"{detail} img.evidence-image.image")
            await image_loaded(page, f"{detail} img.evidence-image.thermal")
            if "sensor" in kinds:  # the first alarm may come before the sensor model spoke
                sensor = f'{detail} .evidence[data-kind="sensor"] table'
                await page.wait_for_selector(sensor, timeout=15_000)
                text = await page.inner_text(sensor)
                assert "Accelerometer1RMS" in text and "object Object" not in text

            await page.fill('.detail input[name="by"]', "test-operator")
            await page.fill('.detail input[name="note"]', "bearing checked")
            await page.click("#ack-button")
            said = ".detail .ack-result"  # what the page said of the request: why, if it failed
            await page.wait_for_function(
                f"document.querySelector('{said}')?.textContent !== ''", timeout=15_000
            )
            answer = await page.inner_text(said)  # the broker's echo may already be back
            assert answer.startswith(("sent", "acknowledged")), answer
            await seen.wait_for(
                lambda s: any(a.get("id") == alarm_id for a in s.json("/pump-01/ack")), 15
            )
            await page.wait_for_selector("text=acknowledged by test-operator", timeout=15_000)
            await page.wait_for_function(  # the form no longer says it waits
                f"document.querySelector('{said}')?.textContent.startsWith('acknowledged')",
                timeout=15_000,
            )
            await page.screenshot(path=tmp_path / "alarm.png", full_page=True)

            await agent_published(seen, f"{pump}/snapshot/image")
            await page.evaluate("location.hash = '#/device/demo-plant/pump-01'")
            await page.wait_for_selector(".chart canvas", timeout=15_000)
            drawn = int(await page.get_attribute(".charts", "data-points") or 0)
            await page.wait_for_function(  # the device's own stream brings its trend points
                f"Number(document.querySelector('.charts').dataset.points) > {drawn}",
                timeout=15_000,
            )
            await image_loaded(page, "img.snapshot.image")
            await page.screenshot(path=tmp_path / "device.png", full_page=True)
            await page.click('nav a[data-nav="overview"]')
            await page.wait_for_selector('.tile[data-device="pump-01"][data-state="alarm"]')
            await page.wait_for_selector(f'.alarm-line.acked[data-alarm-id="{alarm_id}"]')
            await page.screenshot(path=tmp_path / "overview.png", full_page=True)

        assert await page.evaluate("window.loadedOnce === true"), "the page was reloaded"

    ack = next(a for a in seen.json("/pump-01/ack") if a.get("id") == alarm_id)
    assert ack["by"] == "test-operator" and ack["note"] == "bearing checked"
    assert set(ack) == {"id", "by", "at", "note"}
    assert shown_after < ALARM_SHOWN_WITHIN_S
    assert errors == []
    print(f"alarm shown {shown_after:.2f} s after it was published; screenshots in {tmp_path}")
    print(json.dumps({"alarm_id": alarm_id}))
