"""The dashboard's memory: scores, alarms, acknowledgements and evidence, kept so a restarted
dashboard still draws its charts and lists its alarms; everything older than the retention is
deleted.

Two stores keep it behind one interface: a SQLite file (`history_sqlite.py`, the zero-setup
default) and PostgreSQL (`history_postgres.py`, `dashboard.history: postgresql://…`), which
several dashboard processes can share.
"""

from __future__ import annotations

import json
import re
from typing import Any, Protocol

from agent.core.payload import from_learned_device

ALARM_FILTERED = ("device", "type", "severity")  # what an alarm list may be filtered by
ALARM_COLUMNS = ("id", "site", "device", "type", "severity", "score", "event", "first_at")
# about a trend point per device per second, plenty for a chart; under 1 s so that states
# published once a second, which arrive a little early or late, are not every other one dropped
MIN_SCORE_INTERVAL_S = 0.9
MAX_ALARMS = 500  # rows one alarm list returns
MAX_ACKS = 20  # acknowledgements kept per alarm: a flood of them must not grow a row without end


class HistoryDatabaseError(Exception):
    """The history database cannot be used: unreachable, or migrated past this version."""


class History(Protocol):
    """What the ingestion writes and the pages read."""

    async def add_state(self, site: str, state: dict[str, Any], at: float) -> dict[str, Any] | None:
        """One trend point from a device's state; None when throttled or past the retention."""

    async def trend(self, site: str, device: str, since: float) -> list[dict[str, Any]]:
        """Trend points of one device since a time, oldest first."""

    async def add_alarm(
        self, site: str, payload: dict[str, Any], first_at: float, last_at: float
    ) -> None:
        """An alarm event: the first creates the row, later ones update it (by `id` and `seq`)."""

    async def alarms(self, since: float = 0.0, **filters: str | None) -> list[dict[str, Any]]:
        """Alarms first seen since a time, newest first, filtered by device/type/severity."""

    async def alarm(self, alarm_id: str) -> dict[str, Any] | None:
        """One alarm with its latest payload, its acknowledgements and its evidence files."""

    async def add_ack(self, ack: dict[str, Any], at: float) -> bool:
        """An operator's acknowledgement as seen on the broker; False when it was not kept (the
        same one again, or the alarm has MAX_ACKS already)."""

    async def add_evidence(
        self, alarm_id: str, kind: str, media_type: str, data: bytes, at: float
    ) -> None:
        """An evidence file; published once per alarm and kind, so a repeat replaces it."""

    async def evidence(self, alarm_id: str, kind: str) -> tuple[str, bytes] | None:
        """(media type, bytes) of one evidence file."""

    async def stats(self, since: float) -> dict[str, list[dict[str, Any]]]:
        """Alarms per device and per type per UTC day, since a time."""

    async def prune(self, now: float | None = None) -> int:
        """Delete everything older than the retention; the rows deleted."""

    async def close(self) -> None:
        """Finish writing and let go of the store."""


def trend_point(state: dict[str, Any], at: float) -> dict[str, Any]:
    """The part of a device's state a chart draws."""
    return {
        "at": at,
        "score": state.get("score"),
        "modalities": {m: v.get("score") for m, v in (state.get("modalities") or {}).items()},
        "readings": state.get("readings") or {},
    }


def learned_alarm(payload: str) -> bool:
    """Raised by a device that had learned its own normal: a list shows its score in decades
    of rarity, not as 1.00."""
    try:
        message = json.loads(payload)
    except ValueError:
        return False
    return isinstance(message, dict) and from_learned_device(message)


def alarm_columns(
    site: str, payload: dict[str, Any], first_at: float, last_at: float
) -> dict[str, Any]:
    """The columns of an alarm's row, from one of its events."""
    return {
        "id": payload["id"], "site": site, "device": payload.get("device"),
        "type": payload.get("type"), "severity": payload.get("severity"),
        "score": payload.get("score"), "event": payload.get("event"),
        "seq": payload.get("seq") or 0, "first_at": first_at, "last_at": last_at,
        "payload": json.dumps(payload),
    }  # fmt: skip


def alarm_filters(
    since: float, filters: dict[str, str | None], placeholder: str
) -> tuple[str, list[float | str]]:
    """The WHERE clause of an alarm list (first seen since, device/type/severity), written
    with the database's `placeholder`, and its parameters."""
    clauses = [f"first_at >= {placeholder}"]
    params: list[float | str] = [since]
    for name in ALARM_FILTERED:
        if value := filters.get(name):
            clauses.append(f"{name} = {placeholder}")
            params.append(value)
    return " AND ".join(clauses), params


class Throttle:
    """At most one trend point per device per MIN_SCORE_INTERVAL_S, across restarts (the store
    says when it last kept one for a device it has not seen since it started)."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], float] = {}

    def known(self, key: tuple[str, str]) -> bool:
        """Whether the device's last point time is known (else ask the store, then `seed`)."""
        return key in self._last

    def seed(self, key: tuple[str, str], last_at: float | None) -> None:
        """The time of the device's latest stored point, if any."""
        self._last[key] = last_at or 0.0

    def admits(self, key: tuple[str, str], at: float) -> bool:
        """True (and remembered) when a point at `at` is due."""
        if at - self._last[key] < MIN_SCORE_INTERVAL_S:
            return False
        self._last[key] = at
        return True


def masked(url: str) -> str:
    """A database URL fit for a log: its password replaced by ***."""
    return re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
