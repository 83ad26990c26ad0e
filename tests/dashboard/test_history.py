"""The dashboard's SQLite history: what a restarted dashboard still shows, and retention."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agent.apps.dashboard.history import History


def state(score: float, max_c: float) -> dict[str, Any]:
    return {
        "device": "pump",
        "score": score,
        "modalities": {"image": {"score": 0.1}, "temperature": {"score": score}},
        "readings": {"max_temp_c": max_c, "sensor": {"Current": 3.1}},
    }


def alarm(alarm_id: str, seq: int, event: str, **extra: Any) -> dict[str, Any]:
    base = {"id": alarm_id, "seq": seq, "event": event, "device": "pump", "type": "hot_spot",
            "severity": "major", "score": 0.7}  # fmt: skip
    return {**base, **extra}


def test_trend_survives_a_restart_and_is_throttled(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite", retention_days=1)
    assert history.add_state("plant", state(0.2, 40.0), at=1000.0) is not None
    assert history.add_state("plant", state(0.9, 80.0), at=1000.4) is None  # < 1 s later
    assert history.add_state("plant", state(0.5, 60.0), at=1001.5) is not None
    history.close()
    reopened = History(tmp_path / "h.sqlite", retention_days=1)
    points = reopened.trend("plant", "pump", since=0.0)
    assert [p["score"] for p in points] == [0.2, 0.5]
    assert points[1]["modalities"] == {"image": 0.1, "temperature": 0.5}
    assert points[1]["readings"]["max_temp_c"] == 60.0
    assert reopened.trend("plant", "pump", since=1001.0) == points[1:]
    assert reopened.trend("plant", "other", since=0.0) == []


def test_alarm_events_update_one_row_and_filters_apply(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite", retention_days=1)
    history.add_alarm("plant", alarm("a1", 1, "raised"), 100.0, 100.0)
    history.add_alarm("plant", alarm("a1", 3, "updated", severity="critical"), 110.0, 110.0)
    history.add_alarm("plant", alarm("a1", 2, "updated", severity="major"), 111.0, 111.0)  # late
    history.add_alarm("plant", alarm("b2", 4, "raised", type="inner_race"), 120.0, 120.0)
    rows = history.alarms()
    assert [r["id"] for r in rows] == ["b2", "a1"]  # newest first
    a1 = rows[1]
    assert (a1["event"], a1["severity"], a1["first_at"]) == ("updated", "critical", 100.0)
    assert [r["id"] for r in history.alarms(type="inner_race")] == ["b2"]
    assert [r["id"] for r in history.alarms(severity="critical")] == ["a1"]
    assert history.alarms(device="valve") == []
    assert [r["id"] for r in history.alarms(since=115.0)] == ["b2"]


def test_acks_evidence_and_statistics(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite", retention_days=1)
    day = 86400.0 * 20000  # 2024-10-04, midnight UTC
    history.add_alarm("plant", alarm("a1", 1, "raised"), day + 10, day + 10)
    history.add_alarm("plant", alarm("b2", 2, "raised", type="ball"), day + 20, day + 20)
    history.add_alarm("plant", alarm("c3", 3, "raised", device="valve"), day + 86400, day + 86400)
    history.add_ack({"id": "a1", "by": "ana", "at": "2024-10-04T00:01:00Z", "note": "ok"}, day)
    history.add_evidence("a1", "image", "image/jpeg", b"\xff\xd8\xffjpeg", day)
    found = history.alarm("a1")
    assert found is not None
    assert found["acks"] == [{"by": "ana", "at": "2024-10-04T00:01:00Z", "note": "ok"}]
    assert found["evidence_files"] == [{"kind": "image", "media_type": "image/jpeg", "size": 7}]
    assert history.evidence("a1", "image") == ("image/jpeg", b"\xff\xd8\xffjpeg")
    assert history.evidence("a1", "audio") is None
    assert history.alarm("nope") is None
    stats = history.stats(since=0.0)
    assert stats["per_device"] == [
        {"day": "2024-10-04", "name": "pump", "n": 2},
        {"day": "2024-10-05", "name": "valve", "n": 1},
    ]
    assert {"day": "2024-10-04", "name": "ball", "n": 1} in stats["per_type"]


def test_retention_deletes_what_is_older(tmp_path: Path) -> None:
    history = History(tmp_path / "h.sqlite", retention_days=1)
    history.add_state("plant", state(0.2, 40.0), at=1000.0)
    history.add_alarm("plant", alarm("old", 1, "raised"), 1000.0, 1000.0)
    history.add_evidence("old", "image", "image/jpeg", b"x", 1000.0)
    history.add_ack({"id": "old", "by": "ana"}, 1000.0)
    history.add_alarm("plant", alarm("new", 2, "raised"), 90000.0, 90000.0)
    assert history.prune(now=1000.0 + 86400 + 1) == 4
    assert [r["id"] for r in history.alarms()] == ["new"]
    assert history.trend("plant", "pump", since=0.0) == []
    assert history.evidence("old", "image") is None
