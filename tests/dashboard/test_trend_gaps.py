"""Trend charts in headless Chromium with the vendored uPlot: hours without data are a gap in
the line, never a ramp across them, while a sense missing from a few points is spanned."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Page, async_playwright

from tests.dashboard.support import CHROMIUM_ARGS, chromium_or_skip

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

STATIC = Path(__file__).resolve().parents[2] / "agent" / "apps" / "dashboard" / "static"
WIDTH, HEIGHT = 600, 200
RED = "#ff0000"


def module_url(name: str) -> str:
    """A static module as a data: URL, imported without a server (it imports nothing)."""
    source = (STATIC / "js" / name).read_bytes()
    return "data:text/javascript;base64," + base64.b64encode(source).decode()


def run(start: float, count: int, step: float, missing: range = range(0)) -> list[dict]:
    """Points at `step` s with score 0.5; `missing` indexes lack it (a sense that was quiet)."""
    return [{"at": start + i * step, "score": None if i in missing else 0.5} for i in range(count)]


async def draw(page: Page, points: list[dict]) -> dict[str, Any]:
    """Draw the points as device.js does; the red pixels found in each pixel column."""
    return await page.evaluate(
        """async ([url, points, width, height, red]) => {
          const t = await import(url);
          const series = [{ label: "score", colour: red, value: (p) => p.score }];
          document.body.replaceChildren();
          const plot = new uPlot({ width, height, series: t.seriesOptions(series),
              scales: { y: { range: () => [0, 1] } }, legend: { show: false },
              axes: [{ show: false }, { show: false }], cursor: { show: false } },
            t.trendColumns(points, series, t.gapThreshold(points)), document.body);
          await new Promise((drawn) => requestAnimationFrame(() => drawn()));
          const canvas = plot.ctx.canvas;
          const pixels = plot.ctx.getImageData(0, 0, canvas.width, canvas.height).data;
          const columns = new Array(canvas.width).fill(0);
          for (let i = 0; i < pixels.length; i += 4) {
            if (pixels[i] > 200 && pixels[i + 1] < 80 && pixels[i + 2] < 80) {
              columns[(i / 4) % canvas.width] += 1;
            }
          }
          return { columns, pos: points.map((p) => plot.valToPos(p.at, "x", true)) };
        }""",
        [module_url("trend.js"), points, WIDTH, HEIGHT, RED],
    )


def red_between(drawn: dict[str, Any], start: float, end: float) -> int:
    """Red pixels in the pixel columns strictly between two canvas x positions."""
    low, high = sorted((int(start) + 2, int(end) - 2))
    return sum(drawn["columns"][low:high])


@pytest.fixture
async def page() -> Any:
    chromium = chromium_or_skip()
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        page = await browser.new_page()
        await page.add_script_tag(path=str(STATIC / "vendor" / "uPlot.iife.min.js"))
        yield page
        await browser.close()


@pytest.mark.parametrize("step", [1.0, 60.0])  # 1 s points; an inspection round a minute
async def test_hours_without_data_are_a_gap_in_the_line(page: Page, step: float) -> None:
    before = run(0.0, 600, step)
    after = run(before[-1]["at"] + 4 * 3600.0, 600, step)  # the agent was off for 4 h
    drawn = await draw(page, before + after)
    pos = drawn["pos"]
    assert red_between(drawn, pos[599], pos[600]) == 0  # nothing drawn across the 4 h
    assert red_between(drawn, pos[0], pos[599]) > 0 and red_between(drawn, pos[600], pos[-1]) > 0


async def test_a_sense_quiet_for_a_few_points_is_spanned(page: Page) -> None:
    points = run(0.0, 100, 1.0, missing=range(40, 50))
    drawn = await draw(page, points)
    assert red_between(drawn, drawn["pos"][39], drawn["pos"][50]) > 0


async def test_points_a_little_late_stay_one_line(page: Page) -> None:
    points = run(0.0, 300, 1.0) + run(299.0 + 20.0, 300, 1.0)  # 20 s late: under the floor
    drawn = await draw(page, points)
    assert red_between(drawn, drawn["pos"][299], drawn["pos"][300]) > 0
