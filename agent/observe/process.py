"""This process's own resource use, read from /proc (Linux), for the bench and the soak test;
and how the C allocator gives memory back (glibc)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameters
M_ARENA_MAX = -8
MALLINFO2_FIELDS = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
LARGE_BLOCK_BYTES = 128 * 1024  # glibc's own starting value, kept fixed
# heaps shared by all threads (glibc makes up to 8 per core, one per new thread until then):
# each thread's heap keeps its own free holes, which grow for hours (tools/soak.py)
ARENAS = 2


@dataclass(frozen=True, slots=True)
class ProcessUsage:
    """Resident memory, open file descriptors and OS threads at one instant."""

    rss_mb: float
    fds: int
    threads: int

    @staticmethod
    def now() -> ProcessUsage:
        """Read /proc/self once."""
        status = Path("/proc/self/status").read_text().splitlines()
        fields = dict(line.split(":", 1) for line in status if ":" in line)
        return ProcessUsage(
            rss_mb=int(fields["VmRSS"].split()[0]) / 1024.0,
            fds=sum(1 for _ in Path("/proc/self/fd").iterdir()),
            threads=int(fields["Threads"]),
        )


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in MALLINFO2_FIELDS.split()]


@dataclass(frozen=True, slots=True)
class HeapUsage:
    """The C heaps (glibc's malloc, which Python, numpy, ONNX Runtime, OpenCV and SQLite use):
    what is in use, what is free but kept by the process, and the blocks mapped on their own."""

    used_mb: float
    free_mb: float
    mapped_blocks: int


def heap_usage() -> HeapUsage | None:
    """The heaps now; None without glibc 2.33's mallinfo2."""
    libc = _glibc()
    mallinfo2 = getattr(libc, "mallinfo2", None) if libc is not None else None
    if mallinfo2 is None:
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return HeapUsage(
        used_mb=(info.uordblks + info.hblkhd) / 2**20,
        free_mb=info.fordblks / 2**20,
        mapped_blocks=int(info.hblks),
    )


@dataclass(frozen=True, slots=True)
class ArenaUsage:
    """glibc's heaps (arenas: the main one, and those made for threads): how many, and what
    the thread arenas hold from the system (their free pages are not handed back as readily
    as the main heap's, so growth there with a flat `used_mb` is threads' fragmentation)."""

    arenas: int
    thread_arenas_mb: float


def arena_usage() -> ArenaUsage | None:
    """The arenas now, from glibc's malloc_info; None without glibc."""
    libc = _glibc()
    if libc is None or not hasattr(libc, "malloc_info") or not hasattr(libc, "open_memstream"):
        return None
    buffer, size = ctypes.c_char_p(), ctypes.c_size_t()
    libc.open_memstream.restype = ctypes.c_void_p
    libc.open_memstream.argtypes = [
        ctypes.POINTER(ctypes.c_char_p),
        ctypes.POINTER(ctypes.c_size_t),
    ]
    libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    libc.free.argtypes = [ctypes.c_void_p]
    stream = libc.open_memstream(ctypes.byref(buffer), ctypes.byref(size))
    if not stream:
        return None
    try:
        libc.malloc_info(0, stream)
    finally:
        libc.fclose(stream)
    try:
        xml = (buffer.value or b"").decode(errors="replace")
    finally:
        libc.free(buffer)
    heaps = re.findall(r'<heap nr="(\d+)">(.*?)</heap>', xml, re.S)
    thread_bytes = 0
    for number, body in heaps:
        current = re.search(r'<system type="current" size="(\d+)"/>', body)
        if number != "0" and current is not None:
            thread_bytes += int(current.group(1))
    return ArenaUsage(len(heaps), thread_bytes / 2**20)


@functools.cache
def _glibc() -> Any:
    """The C library when it is glibc (it has mallopt and malloc_trim), else None."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None
    if not (hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim")):
        return None
    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    libc.malloc_trim.argtypes = [ctypes.c_size_t]
    return libc


def pin_large_blocks(threshold: int = LARGE_BLOCK_BYTES) -> bool:
    """Serve every block of `threshold` bytes or more from a mapping of its own, returned to the
    system when freed; True when the allocator took it (glibc).

    glibc raises this threshold by itself up to the largest block freed so far (32 MiB at
    most), after which decoded frames, model inputs and sound windows (hundreds of KiB to MiB,
    freed within a sample) are carved from the heaps between smaller, longer-lived blocks.
    The holes they leave are kept by the process, and RSS creeps up for hours; fixing the
    threshold stops that, for one mapping and its page faults per large buffer.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, threshold))


def cap_arenas(arenas: int = ARENAS) -> bool:
    """Let the threads made from now on share at most `arenas` heaps; True when the allocator
    took it (glibc). Heaps already made stay, so call it before the first threads are.

    Every thread glibc sees allocate gets a heap of its own until there are 8 per core (16
    here): ONNX Runtime's and the default executor's threads each keep the free holes of their
    own heap, which `malloc_trim` hands back only in part, and RSS climbs for hours (about
    0.3 MB per plant-hour in the soak); on shared heaps the holes are reused.
    """
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_ARENA_MAX, arenas))


def tune_allocator() -> None:
    """The C allocator set for a process that runs for months: large blocks mapped of their
    own (`pin_large_blocks`) and few heaps shared by the threads (`cap_arenas`)."""
    pin_large_blocks()
    cap_arenas()


def release_free_memory() -> bool:
    """Give the free pages inside the C heaps back to the system (glibc's malloc_trim);
    True when some were."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
