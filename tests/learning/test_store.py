"""Learned versions on disk: numbered, pointed at, rolled back, pruned, read as untrusted."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from agent.learning.store import (
    KEEP,
    Card,
    LearnedStore,
    SavedCheck,
    SavedHour,
    SavedSenseCheck,
    SenseCard,
    StoreError,
)
from agent.senses.learning import Learned


def card(device: str = "pump-01") -> Card:
    part = SenseCard(
        samples=40, rate_hz=2.0, threshold=0.99, params={"tail": [1, 2]}, summary={},
        files=["m.onnx"],
    )  # fmt: skip
    return Card(
        device=device,
        version=1,
        started_at=1.0,
        learned_at=2.0,
        reason="test",
        target_false_alarms_per_day=1.0,
        threshold=0.99,
        senses={"sensor": part},
    )


def learned() -> dict[str, Learned]:
    return {"sensor": Learned("sensor", 40, {"tail": [1, 2]}, {}, {"m.onnx": b"model"})}


def test_versions_count_up_and_the_newest_is_in_use(tmp_path: Path) -> None:
    store = LearnedStore(tmp_path)
    assert store.current("pump-01") is None and store.card("pump-01") is None
    assert store.save(card(), learned()) == 1
    assert store.save(card(), learned()) == 2
    assert store.current("pump-01") == 2
    loaded = store.card("pump-01")
    assert loaded is not None and loaded.version == 2
    assert loaded.learned("sensor").params == {"tail": [1, 2]}
    assert (store.folder("pump-01", 2) / "sensor" / "m.onnx").read_bytes() == b"model"


def test_rollback_goes_to_the_version_before_and_stops_at_the_first(tmp_path: Path) -> None:
    store = LearnedStore(tmp_path)
    for _ in range(3):
        store.save(card(), learned())
    assert store.rollback("pump-01").version == 2
    assert store.rollback("pump-01").version == 1
    with pytest.raises(StoreError, match="no earlier"):
        store.rollback("pump-01")
    assert store.save(card(), learned()) == 4  # a relearn after a rollback is the newest


def test_a_rollback_goes_before_a_named_version_and_never_onto_a_damaged_card(
    tmp_path: Path,
) -> None:
    store = LearnedStore(tmp_path)
    for _ in range(3):
        store.save(card(), learned())
    assert store.rollback("pump-01", before=2).version == 1  # from the version a device judges by
    store.use("pump-01", 3)
    (store.folder("pump-01", 2) / "card.json").write_text("{")
    with pytest.raises(StoreError, match="not a learned card"):
        store.rollback("pump-01")
    assert store.current("pump-01") == 3  # left where it was


def test_old_versions_are_pruned_but_not_the_one_in_use(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LearnedStore(tmp_path)
    for _ in range(KEEP + 3):
        store.save(card(), learned())
    assert store.versions("pump-01") == list(range(4, KEEP + 4))
    store.use("pump-01", 4)  # rolled back to the oldest kept
    # a save that prunes before its new version is put in use (a rollback between the two)
    monkeypatch.setattr(store, "_point", lambda device, version: None)
    store.save(card(), learned())
    assert store.versions("pump-01") == list(range(4, KEEP + 5))  # 4 is past KEEP, but in use


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda p: p.write_text("{not json"), "not a learned card"),
        (lambda p: p.write_bytes(b" " * (5 * 1024 * 1024)), "over"),
        (lambda p: p.write_text("[" * 100_000), "nested deeper than 16"),
        (lambda p: p.write_text(json.dumps({**json.loads(p.read_text()), "extra": 1})), "extra"),
        (lambda p: p.write_text(p.read_text().replace('"m.onnx"', '"../../x"')), "not a file"),
        # a rate of 0 would stop the device's calibrated rule from being built at start
        (
            lambda p: p.write_text(p.read_text().replace('"rate_hz": 2.0', '"rate_hz": 0.0')),
            "rate_hz",
        ),
        (
            lambda p: p.write_text(p.read_text().replace('"rate_hz": 2.0', '"rate_hz": 1e308')),
            "rate_hz",
        ),
    ],
)
def test_a_damaged_card_is_refused_naming_why(
    tmp_path: Path, damage: Callable[[Path], object], message: str
) -> None:
    store = LearnedStore(tmp_path)
    store.save(card(), learned())
    damage(store.folder("pump-01", 1) / "card.json")
    with pytest.raises(StoreError, match=message):
        store.card("pump-01")


def test_a_device_id_cannot_leave_the_store(tmp_path: Path) -> None:
    with pytest.raises(StoreError):
        LearnedStore(tmp_path).save(card(".."), learned())


def test_a_pointer_to_nothing_is_an_error_not_a_crash(tmp_path: Path) -> None:
    store = LearnedStore(tmp_path)
    store.save(card(), learned())
    (tmp_path / "learned" / "pump-01" / "current").write_text("../etc")
    with pytest.raises(StoreError, match="names no version"):
        store.current("pump-01")


def a_check() -> SavedCheck:
    hours = [SavedHour(hour=h, senses={"sensor": SavedSenseCheck(judged=100, reached=[2, 0, 0])})
             for h in (10, 11)]  # fmt: skip
    return SavedCheck(saved_at=40_000.0, started=36_000.0, said={"sensor": "early"}, hours=hours)


def test_the_running_check_is_kept_beside_its_version_and_read_back(tmp_path: Path) -> None:
    store = LearnedStore(tmp_path)
    store.save(card(), learned())
    assert store.saved_check("pump-01", 1) is None  # none kept yet
    store.save_check("pump-01", 1, a_check())
    assert store.saved_check("pump-01", 1) == a_check()
    assert [p.name for p in store.folder("pump-01", 1).iterdir() if p.name.startswith(".")] == []
    with pytest.raises(OSError):  # a version that is gone: the caller logs it
        store.save_check("pump-01", 7, a_check())


def one_hour(judged: int, reached: list[int]) -> dict[str, Any]:
    return {"hour": 10, "senses": {"sensor": {"judged": judged, "reached": reached}}}


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: "{not json", "not a calibration check"),
        (lambda d: " " * (300 * 1024), "over"),
        (lambda d: "[" * 10_000, "nested deeper than 8"),
        (lambda d: {**d, "said": {"sensor": "fine"}}, "said"),
        (lambda d: {**d, "hours": d["hours"][::-1]}, "oldest first"),
        (lambda d: {**d, "hours": d["hours"] * 13}, "hours"),  # more than a day's
        (lambda d: {**d, "hours": [one_hour(1, [2, 0, 0])]}, "from 0 to judged"),
        (lambda d: {**d, "hours": [one_hour(1, [0])]}, "reached"),
        (lambda d: {**d, "started": "nan"}, "started"),
        (lambda d: {**d, "saved_at": 1e300}, "saved_at"),
    ],
)
def test_a_damaged_check_is_refused_naming_why(
    tmp_path: Path, damage: Callable[[dict[str, Any]], object], message: str
) -> None:
    store = LearnedStore(tmp_path)
    store.save(card(), learned())
    store.save_check("pump-01", 1, a_check())
    path = store.folder("pump-01", 1) / "calibration_check.json"
    damaged = damage(json.loads(path.read_text()))
    path.write_text(damaged if isinstance(damaged, str) else json.dumps(damaged))
    with pytest.raises(StoreError, match=message):
        store.saved_check("pump-01", 1)
