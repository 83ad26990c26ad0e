"""What the agent holds stays the same size however long it runs, and the C heaps give back
what it frees (tools/soak.py measures the whole; these pin the parts)."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc

import pytest

from agent.observe.process import (
    ARENAS,
    ProcessUsage,
    heap_usage,
    release_free_memory,
)
from agent.runtime.pipeline import LatencyRing

glibc = pytest.mark.skipif(heap_usage() is None, reason="needs glibc 2.33+ (mallinfo2)")


def test_latency_ring_keeps_the_newest_oldest_first() -> None:
    ring = LatencyRing(4)
    assert ring.values() == () and len(ring) == 0
    for value in range(3):
        ring.append(float(value))
    assert ring.values() == (0.0, 1.0, 2.0)
    for value in range(3, 10):
        ring.append(float(value))
    assert ring.values() == (6.0, 7.0, 8.0, 9.0) and len(ring) == 4


def test_latency_ring_allocates_nothing_after_construction() -> None:
    """A deque(maxlen=10_000) of floats grows by 320 KB while it fills (three devices: 1 MB
    of RSS climbing for the first minutes to hours of a run); the ring is allocated once."""
    tracemalloc.start()
    try:
        ring = LatencyRing(10_000)
        before = tracemalloc.get_traced_memory()[0]
        for value in range(30_000):
            ring.append(value * 0.5)
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 4096
    assert ring.values()[-1] == 29_999 * 0.5


FRAME_AFTER_A_BIG_FREE = """
import sys
import numpy as np
from agent.observe.process import heap_usage, pin_large_blocks
if sys.argv[1] == "pin":
    assert pin_large_blocks()
big = np.ones(8 * 2**20, dtype=np.uint8)
del big
before = heap_usage().mapped_blocks
frame = np.ones(640 * 480 * 3, dtype=np.uint8)  # a camera frame, 900 KiB
print(heap_usage().mapped_blocks - before)
"""


def mapped_for_a_frame(pin: bool) -> int:
    """Blocks mapped of their own for a frame allocated after an 8 MiB buffer was freed, in a
    process of its own (no other thread allocating meanwhile)."""
    command = [sys.executable, "-c", FRAME_AFTER_A_BIG_FREE, "pin" if pin else "default"]
    result = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    return int(result.stdout)


@glibc
def test_large_blocks_stay_mapped_after_a_larger_one_was_freed() -> None:
    """By default, freeing an 8 MiB buffer raises glibc's mmap threshold to 8 MiB and the next
    frame-sized buffers come from the heap, where their holes stay in RSS; pinned, they don't."""
    assert mapped_for_a_frame(pin=False) == 0
    assert mapped_for_a_frame(pin=True) == 1


@glibc
def test_freed_heap_pages_go_back_to_the_system() -> None:
    """Blocks freed between blocks still held leave holes no heap top can trim; malloc_trim
    hands their pages back (120 MB here), which is what the agent does every minute."""
    keep, drop = [], []
    for _ in range(4000):
        drop.append(bytearray(30_000))  # heap blocks, below the mmap threshold
        keep.append(bytearray(600))  # small, long-lived, between them
    del drop
    before = ProcessUsage.now().rss_mb
    assert release_free_memory()
    assert ProcessUsage.now().rss_mb < before - 50
    del keep


THREADS_ALLOCATING = """
import sys, threading
from agent.observe.process import arena_usage, tune_allocator
assert arena_usage().arenas == 1
if sys.argv[1] == "tuned":
    tune_allocator()
def work():
    kept = [bytearray(1000) for _ in range(5000)]
threads = [threading.Thread(target=work) for _ in range(6)]
[t.start() for t in threads]
[t.join() for t in threads]
usage = arena_usage()
print(usage.arenas, usage.thread_arenas_mb)
"""


def arenas_after_threads(tuned: bool) -> tuple[int, float]:
    """glibc's heaps after six threads allocated, in a process of its own."""
    command = [sys.executable, "-c", THREADS_ALLOCATING, "tuned" if tuned else "default"]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=60)
    arenas, thread_mb = out.stdout.split()
    return int(arenas), float(thread_mb)


@glibc
def test_the_arenas_glibc_makes_for_threads_are_counted_and_capped() -> None:
    """The soak reports them (growth there at a flat heap in use is threads' fragmentation);
    the agent lets its threads share at most ARENAS of them."""
    arenas, thread_mb = arenas_after_threads(tuned=False)
    assert arenas >= 3 and thread_mb > 0.0  # a heap per thread, up to 8 per core
    arenas, _ = arenas_after_threads(tuned=True)
    assert 1 <= arenas <= ARENAS
