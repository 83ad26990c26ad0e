"""Evaluations spread over worker processes that end with the evaluation."""

from __future__ import annotations

import logging
import multiprocessing
import signal
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import TypeVar

from agent.observe.logs import configure_logging

Item = TypeVar("Item")
Result = TypeVar("Result")
REAP_S = 5.0  # how long a terminated worker is waited for


def in_order(
    function: Callable[[Item], Result], items: Sequence[Item], jobs: int
) -> Iterator[Result]:
    """`function` of each item, in the items' order; with `jobs` > 1 in that many worker
    processes (spawned: no model session crosses a fork).

    However the caller stops (done, an error, Ctrl-C, SIGTERM turned into an exit, the
    iterator dropped), the workers end with it: none is left working for nobody. A worker
    that dies (killed, out of memory) raises BrokenProcessPool here instead of a wait forever.
    """
    if jobs == 1:
        yield from map(function, items)
        return
    level = logging.getLevelName(logging.getLogger().level).lower()
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(jobs, context, worker_started, (level,))
    try:
        futures = [pool.submit(function, item) for item in items]
        for future in futures:
            yield future.result()
    finally:
        stop(pool)


def stop(pool: ProcessPoolExecutor) -> None:
    """Cancel what has not started and end the workers now, mid-item or idle.

    `shutdown` alone lets running items finish (and with `wait`, every queued one);
    Python 3.14's `terminate_workers` does what the loop below does.
    """
    workers = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in workers:
        process.terminate()
    for process in workers:
        process.join(REAP_S)


def worker_started(level: str) -> None:
    """A worker leaves Ctrl-C to the parent, which ends every worker at once."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    configure_logging(level)
