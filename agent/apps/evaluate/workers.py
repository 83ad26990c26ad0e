"""Evaluations spread over worker processes that end with the evaluation."""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

from agent.observe.logs import configure_logging

Item = TypeVar("Item")
Result = TypeVar("Result")


def in_order(
    function: Callable[[Item], Result], items: Iterable[Item], jobs: int
) -> Iterator[Result]:
    """`function` of each item, in the items' order; with `jobs` > 1 in that many worker
    processes (spawned: no model session crosses a fork). However the caller stops (done, an
    error, Ctrl-C, SIGTERM turned into an exit, the iterator dropped), the workers end with it:
    none is left working for nobody."""
    if jobs == 1:
        yield from map(function, items)
        return
    level = logging.getLevelName(logging.getLogger().level).lower()
    with multiprocessing.get_context("spawn").Pool(jobs, worker_started, (level,)) as pool:
        yield from pool.imap(function, items)  # leaving the block terminates the workers


def worker_started(level: str) -> None:
    """A worker leaves Ctrl-C to the parent, which ends every worker at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(level)
