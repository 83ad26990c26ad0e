"""agent/apps/evaluate/workers.py: items in worker processes, in order, and no silent hang."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import pytest

from agent.apps.evaluate.workers import in_order


def square(x: int) -> int:
    return x * x


def killed(x: int) -> int:
    """A worker killed mid-item, as the kernel's out-of-memory killer would."""
    os.kill(os.getpid(), signal.SIGKILL)
    return x


@pytest.mark.parametrize("jobs", [1, 2])
def test_results_come_in_the_items_order(jobs: int) -> None:
    assert list(in_order(square, [3, 1, 2, 5], jobs)) == [9, 1, 4, 25]


@pytest.mark.timeout(120)
def test_a_worker_that_dies_is_an_error_not_a_wait_forever() -> None:
    with pytest.raises(BrokenProcessPool):
        list(in_order(killed, [1, 2, 3], jobs=2))
