"""Backoff: doubling delays, capped, spread by jitter, and reset by a success."""

from __future__ import annotations

import pytest

from agent.backoff import Backoff


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
