"""The storage folder's disk as a resource: free space and the agent's own files, watched.

`StorageWatch` measures the free space of the filesystem that holds `storage.dir` and the size
of the agent's database files (the outbox/evidence SQLite file with its -wal and -shm) every
`storage.check_interval_s`. Its state is `ok`, `low` (below `storage.min_free_mb`: evidence
files shrink) or `critical` (below `storage.critical_free_mb`, or a write just failed for want
of space: no evidence files). A write that fails with ENOSPC (`report_full`) makes it
`critical` at once, until a check finds more space than there was when it failed. Every change
is logged once and handed to the listeners (the devices' health, the outbox's retry).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from agent.config.device import StorageConfig

log = logging.getLogger(__name__)

DiskState = Literal["ok", "low", "critical"]
DISK_STATES: tuple[DiskState, ...] = ("ok", "low", "critical")
MB = 1024 * 1024
FULL_ERRNOS = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})


def is_disk_full(exc: BaseException) -> bool:
    """An error that says the disk (or the quota) is full: OSError ENOSPC/EDQUOT or SQLite's."""
    if isinstance(exc, OSError):
        return exc.errno in FULL_ERRNOS
    if isinstance(exc, sqlite3.Error):
        return "disk is full" in str(exc) or getattr(exc, "sqlite_errorcode", None) == 13
    return False


@dataclass(frozen=True, slots=True)
class StorageStatus:
    """The disk as last measured: state, why, since when, free bytes, the agent's file sizes."""

    state: DiskState
    free_bytes: int
    files: dict[str, int] = field(default_factory=dict)
    reason: str = ""
    since: float = 0.0

    @property
    def free_mb(self) -> float:
        """Free space in MiB, one decimal."""
        return round(self.free_bytes / MB, 1)

    def view(self) -> dict[str, Any]:
        """The `storage` part of the health payload (without `since`, added by the caller)."""
        return {"state": self.state, "reason": self.reason, "free_mb": self.free_mb}


class StorageWatch:
    """Measures the storage folder's filesystem; `check()` runs off the event loop."""

    def __init__(
        self,
        folder: Path,
        database: Path | None,
        min_free_bytes: int,
        critical_free_bytes: int,
        evidence_bytes: Callable[[], int] | None = None,
        usage: Callable[[Path], Any] = shutil.disk_usage,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.folder = folder
        self.database = database
        self.min_free_bytes = min_free_bytes
        self.critical_free_bytes = critical_free_bytes
        self.evidence_bytes = evidence_bytes
        self.usage = usage
        self.clock = clock
        self.listeners: list[Callable[[StorageStatus], None]] = []
        self._full_at_free: int | None = None  # free bytes when a write last failed
        self.status = StorageStatus("ok", self._free(), since=clock())

    @classmethod
    def for_config(
        cls, storage: StorageConfig, database: Path, evidence_bytes: Callable[[], int] | None
    ) -> StorageWatch:
        """The watch of this config's storage folder and database."""
        return cls(
            storage.resolved(),
            database,
            int(storage.min_free_mb * MB),
            int(storage.critical_free_mb * MB),
            evidence_bytes,
        )

    @property
    def state(self) -> DiskState:
        """ok, low or critical, as last measured or reported."""
        return self.status.state

    def _free(self) -> int:
        try:
            return int(self.usage(self.folder).free)
        except OSError:
            return 0  # folder gone or unreadable: nothing can be written there either

    def _files(self) -> dict[str, int]:
        sizes: dict[str, int] = {}
        if self.database is not None:
            for suffix in ("", "-wal", "-shm"):
                path = self.database.with_name(self.database.name + suffix)
                try:
                    sizes[path.name] = path.stat().st_size
                except OSError:
                    sizes[path.name] = 0
        if self.evidence_bytes is not None:
            try:
                sizes["evidence"] = int(self.evidence_bytes())
            except Exception:  # the index is unreadable now: report the sizes we have
                log.debug("evidence size unknown", exc_info=True)
        return sizes

    def measure(self) -> tuple[int, dict[str, int]]:
        """Free bytes and file sizes now (blocking: call it in a thread)."""
        return self._free(), self._files()

    def check(self) -> StorageStatus:
        """Measure and apply (blocking; the agent runs it in a thread, then `apply`s)."""
        return self.apply(*self.measure())

    def apply(self, free: int, files: dict[str, int]) -> StorageStatus:
        """Take a measurement: new state, logged and handed to listeners when it changed."""
        if self._full_at_free is not None and free <= self._full_at_free:
            state: DiskState = "critical"
            reason = "disk full: a write failed"
        else:
            self._full_at_free = None
            state, reason = self._judge(free)
        return self._set(state, reason, free, files)

    def _judge(self, free: int) -> tuple[DiskState, str]:
        mb = round(free / MB, 1)
        if free < self.critical_free_bytes:
            return "critical", f"{mb} MB free, below {self.critical_free_bytes / MB:g} MB"
        if free < self.min_free_bytes:
            return "low", f"{mb} MB free, below {self.min_free_bytes / MB:g} MB"
        return "ok", ""

    def report_full(self, where: str) -> None:
        """A write failed for want of space: critical now, until space is freed.

        Callable from any thread; the listeners hear of it at the next check, on the loop.
        """
        free = self._free()
        self._full_at_free = free
        if self.status.state != "critical":
            self._set("critical", f"disk full: {where}", free, self.status.files, notify=False)

    def _set(
        self, state: DiskState, reason: str, free: int, files: dict[str, int], notify: bool = True
    ) -> StorageStatus:
        previous = self.status
        changed = state != previous.state
        since = self.clock() if changed else previous.since
        self.status = StorageStatus(state, free, files, reason, since)
        if changed:
            level = logging.INFO if state == "ok" else logging.WARNING
            message = f"storage {state}" + (f": {reason}" if reason else "")
            fields = {"state": state, "free_mb": self.status.free_mb, "folder": str(self.folder)}
            log.log(level, message, extra={"fields": fields})
        for listener in self.listeners if notify else ():
            try:
                listener(self.status)
            except Exception:  # one listener must not keep the news from the others
                log.exception("storage listener failed")
        return self.status


async def keep_watching(watch: StorageWatch, every_s: float) -> None:
    """Measure in a thread every `every_s`, then apply on the event loop (listeners run there)."""
    while True:
        await asyncio.sleep(every_s)
        try:
            free, files = await asyncio.to_thread(watch.measure)
            watch.apply(free, files)
        except Exception:  # the watch must outlive anything a measurement meets
            log.exception("storage check failed")
