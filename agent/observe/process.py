"""This process's own resource use, read from /proc (Linux), for the bench and the soak test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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
