"""A learned device on the dashboard, in headless Chromium: decades of rarity, not 1.00.

A learned device's calibrated scores all read 1.00 to two places once they are rare enough
to matter, and a healthy one is uniform on [0, 1], so 0-1 bars would jump at random. Its
tile shows each sense's decades of rarity against the sense's own threshold, and its charts
plot decades; a device that has not learned keeps its 0-1 scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from tests.dashboard.support import browser_page, chromium_or_skip, dashboard_process
from tests.support.mqtt import MosquittoProcess, subscribe

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

PREFIX = "cal"
SITE = "plant"
ALARM_ID = "8a0e3c55-1c53-4b7e-9a3b-2f1c7a0d9e11"
BAR_CELLS = """bars => bars.map(b => [b.querySelector('.bar-name').textContent,
  b.querySelector('.bar-value').textContent, b.querySelector('.bar-fill').style.width])"""


def level_counts(judged: int, reached: list[int]) -> list[dict[str, Any]]:
    return [
        {"decades": d, "reached": k, "expected": judged / 10**d, "ratio": k * 10**d / judged}
        for d, k in zip((2, 3, 4), reached, strict=True)
    ]


# the agent's calibration check (agent/core/calibration_check.py): the sound of this machine
# reaches 1 in 100 healthy scores 27.7 times as often as its normal promised
CHECK = {
    "since": "2026-12-07T09:00:00Z",
    "senses": {
        "audio": {"judged": 5000, "levels": level_counts(5000, [1385, 300, 2]),
                  "verdict": "higher"},
        "temperature": {"judged": 5000, "levels": level_counts(5000, [40, 3, 0]),
                        "verdict": "holds"},
    },
}  # fmt: skip


def message(device: str, score: float, threshold: float, senses: dict[str, Any],
            **more: Any) -> bytes:  # fmt: skip
    """A state (or, with an alarm's fields in `more`, an alarm event) of the device."""
    modalities = {
        sense: {"score": value, "weight": 0.5, "stale": False, "threshold": level}
        for sense, (value, level) in senses.items()
    }
    return json.dumps({
        "device": device, "state": "ok", "score": score, "threshold": threshold,
        "modalities": modalities, "updated_at": "2026-12-07T10:00:00Z", **more,
    }).encode()  # fmt: skip


async def test_a_learned_tile_and_chart_show_decades_a_shipped_one_scores(
    private_broker: MosquittoProcess, tmp_path: Path
) -> None:
    chromium_or_skip()  # before starting anything
    senses = {"audio": (0.99, 0.99999), "temperature": (0.9999999999, 0.99999)}
    learned = message(
        "pump-07",
        0.9999999999,
        0.99999,
        senses,
        learned_version=3,
        calibration_check=CHECK,
        learned_at="2026-12-05T06:12:40Z",
        learned_reason="MQTT request by maint: new seal",
    )
    shipped = message("fan-02", 0.42, 0.3, {"audio": (0.42, None), "temperature": (0.1, None)})
    at = "2026-12-07T10:00:00Z"
    alarm = message("pump-07", 0.9999999999, 0.99999, senses, id=ALARM_ID, seq=1,
                    event="raised", type="hot_spot", severity="warning", rule="calibrated",
                    raised_at=at, decided_at=at)  # fmt: skip
    async with (
        dashboard_process(tmp_path, private_broker.port, PREFIX) as dash,
        subscribe("127.0.0.1", private_broker.port, f"{PREFIX}/#") as seen,
    ):
        async with aiomqtt.Client("127.0.0.1", private_broker.port) as client:
            for device, payload in (("pump-07", learned), ("fan-02", shipped)):
                topic = f"{PREFIX}/{SITE}/{device}/state"
                await client.publish(topic, payload, qos=1, retain=True)
            await client.publish(f"{PREFIX}/{SITE}/pump-07/alarm", alarm, qos=1)
        async with browser_page(dash.url + "/", 1400, 900) as (page, errors):
            pump, fan = '.tile[data-device="pump-07"]', '.tile[data-device="fan-02"]'
            await page.wait_for_selector(pump, timeout=15_000)
            await page.wait_for_selector(fan, timeout=15_000)

            score = await page.inner_text(f"{pump} .tile-score[data-scale=decades]")
            assert score.replace("\n", " ") == "10.0 / 5.0 decades"
            bars = sorted(await page.eval_on_selector_all(f"{pump} .bar", BAR_CELLS))
            assert bars == [["audio", "2.0/5.0", "40%"], ["temperature", "10.0/5.0", "100%"]]
            assert await page.inner_text(f"{pump} .tile-judged") == (
                "judged by its own normal, learned v3"
            )
            assert await page.inner_text(f"{fan} .tile-judged") == "judged by the shipped models"
            about = await page.get_attribute(f"{pump} .tile-judged", "title")
            assert about is not None and about.startswith("version 3, learned on 2026-12-05")
            assert about.endswith(": MQTT request by maint: new seal")
            assert await page.get_attribute(f"{fan} .tile-judged", "title") == ""
            note = await page.inner_text(f"{pump} .calibration-note")
            assert note == (
                "audio: 1-in-10^3 scores 60× as often as its normal promised "
                "(a fault growing, or a new normal)"
            )
            assert await page.query_selector(f"{fan} .calibration-note") is None
            shipped_score = await page.inner_text(f"{fan} .tile-score[data-scale=score]")
            assert shipped_score.replace("\n", " ") == "0.42 / 0.30"

            await page.evaluate(f"location.hash = '#/device/{SITE}/pump-07'")
            await page.wait_for_selector(".chart canvas", timeout=15_000)
            assert await page.inner_text(".device-head .learned-about") == about
            titles = await page.eval_on_selector_all(".chart h3", "hs => hs.map(h => h.innerText)")
            assert titles[0].startswith("Rarity (decades")
            rows = await page.eval_on_selector_all(
                ".calibration-check tr[data-sense]",
                "rs => rs.map(r => [...r.cells].map(c => c.innerText))",
            )
            assert rows == [
                ["audio", "5000", "1385 / 50.0", "300 / 5.0", "2 / 0.5", "higher"],
                ["temperature", "5000", "40 / 50.0", "3 / 5.0", "0 / 0.5", "holds"],
            ]

            await page.click(".relearn-box summary")  # after maintenance: learn again
            await page.fill('.relearn input[name="by"]', "maint")
            await page.fill('.relearn input[name="note"]', "bearing replaced")
            await page.fill('.relearn input[name="minutes"]', "30")
            await page.click(".relearn button")
            await seen.wait_for(lambda c: bool(c.json("/pump-07/learn")), 15)
            assert seen.json("/pump-07/learn") == [
                {"action": "relearn", "by": "maint", "note": "bearing replaced",
                 "duration_s": 1800.0}
            ]  # fmt: skip
            await page.wait_for_selector("text=requested by maint", timeout=15_000)
            await page.fill('.relearn input[name="note"]', "learned with the fault in")
            await page.click(".relearn button.rollback")  # undo it: the version before
            await seen.wait_for(lambda c: len(c.json("/pump-07/learn")) == 2, 15)
            back = {"action": "rollback", "by": "maint", "note": "learned with the fault in"}
            assert seen.json("/pump-07/learn")[1] == back
            await page.wait_for_selector("text=roll back requested by maint", timeout=15_000)
            await page.evaluate(f"location.hash = '#/device/{SITE}/fan-02'")
            await page.wait_for_function(
                "document.querySelector('.chart h3')?.textContent === 'Scores (0–1)'",
                timeout=15_000,
            )

            await page.click('nav a[data-nav="alarms"]')
            row = f'table.alarms tr[data-alarm-id="{ALARM_ID}"]'
            await page.wait_for_selector(row, timeout=15_000)
            assert "10.0 decades" in await page.inner_text(row)
            await page.click(row)
            detail = f'.detail[data-alarm-id="{ALARM_ID}"]'
            said = await page.inner_text(f"{detail} .alarm-score")
            assert said.startswith("score 10.0 decades (threshold 5.0 decades, rule calibrated)")
            cells = await page.inner_text(f"{detail} table.compact")
            assert "decades / own threshold" in cells and "2.0/5.0" in cells
        assert errors == []
