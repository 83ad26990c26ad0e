"""The fleet benchmark runs end to end on a small fleet: a dashboard fed and measured."""

from __future__ import annotations

import argparse

import pytest

from tools.fleet_bench import bench

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


async def test_a_small_fleet_is_stored_and_measured(broker: tuple[str, int]) -> None:
    args = argparse.Namespace(agents=2, devices=2, duration=6.0, processes=1, history=None,
                              broker=broker, browser=False)  # fmt: skip
    result = await bench(args)
    assert result["devices"] == 4 and result["refused"] == []
    states = result["published"]["state"]
    assert states >= 4  # each device published; how many a second is the bench's to say
    assert result["stored_points"] >= 0.8 * states  # a point per state, whatever the load
    assert result["overview_tiles"] > 10 and result["overview_lag_p99_ms"] is not None
    assert 3 <= result["device_page_points"] <= 8  # one device's, about one a second
    assert result["history_mb_per_device_day"] > 0
