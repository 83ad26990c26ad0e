"""Backoff: doubling delays, capped, spread by jitter, and reset by a success; ProbeSchedule:
fast probes for the first minute of an outage, slower after."""

from __future__ import annotations

import itertools

import pytest

from agent.backoff import Backoff, ProbeSchedule


def test_delays_double_up_to_the_cap_within_the_jitter() -> None:
    backoff = Backoff(first_s=1.0, max_s=8.0, jitter=0.2)
    delays = [backoff.next_delay() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8], strict=True):
        assert 0.8 * base <= delay <= 1.2 * base


def test_jitter_spreads_retries() -> None:
    delays = {Backoff(first_s=1.0, jitter=0.2).next_delay() for _ in range(20)}
    assert len(delays) > 1


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(first_s=0.5, max_s=30.0, jitter=0.0)
    assert [backoff.next_delay() for _ in range(3)] == [0.5, 1.0, 2.0]
    backoff.reset()
    assert backoff.next_delay() == 0.5


@pytest.mark.parametrize(
    "settings", [{"first_s": 0.0}, {"first_s": 5.0, "max_s": 1.0}, {"jitter": 1.0}]
)
def test_impossible_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="first_s"):
        Backoff(**settings)


def probe_times(schedule: ProbeSchedule, outage_s: float) -> list[float]:
    """When a link following `schedule` probes during an outage (the first probe at 0)."""
    now, times = 0.0, [0.0]
    while now < outage_s:
        now += schedule.next_delay(now)
        times.append(now)
    return times


def test_probes_stay_fast_for_the_first_minute_then_slow_down_to_the_cap() -> None:
    schedule = ProbeSchedule(first_s=0.5, fast_for_s=60.0, max_s=10.0, jitter=0.0)
    assert [schedule.next_delay(t) for t in (0.0, 30.0, 59.9)] == [0.5, 0.5, 0.5]
    assert [schedule.next_delay(60.0 + t) for t in range(6)] == [1, 2, 4, 8, 10, 10]


def test_the_end_of_an_outage_up_to_a_minute_long_is_seen_within_a_second() -> None:
    for _ in range(20):  # the jitter differs every time
        times = probe_times(ProbeSchedule(), 61.0)
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert max(gaps[: sum(t < 60 for t in times)]) <= 0.6


def test_a_long_outage_is_probed_rarely() -> None:
    hour = probe_times(ProbeSchedule(jitter=0.2), 3600.0)
    after_first_minute = [t for t in hour if t > 120]
    assert len(hour) < 120 + 360 + 10  # the first minute, then one probe every 8-12 s
    assert len(after_first_minute) <= (3600 - 120) / 8 + 1


def test_jitter_spreads_probes_and_reset_starts_a_fast_outage_again() -> None:
    assert len({ProbeSchedule().next_delay(0.0) for _ in range(20)}) > 1
    schedule = ProbeSchedule(jitter=0.0)
    for t in range(10):
        schedule.next_delay(100.0 + t)
    assert schedule.next_delay(100.0) == 10.0
    schedule.reset()
    assert schedule.next_delay(61.0) == 1.0
    assert schedule.next_delay(0.0) == 0.5


@pytest.mark.parametrize(
    "settings",
    [{"first_s": 0.0}, {"first_s": 20.0, "max_s": 10.0}, {"fast_for_s": -1.0}, {"jitter": 1.0}],
)
def test_impossible_probe_settings_are_refused(settings: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="first_s"):
        ProbeSchedule(**settings)
