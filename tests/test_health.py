"""DeviceHealth: part states, the device's overall state, what fusion drops, and the C2 shape."""

from __future__ import annotations

import logging

import pytest

from agent.runtime.health import DeviceHealth

IMAGE, AUDIO = "image", "audio"


def tracker(changes: list[str] | None = None) -> DeviceHealth:
    clock = iter(float(t) for t in range(1_700_000_000, 1_700_000_100))
    record = (lambda: changes.append("changed")) if changes is not None else (lambda: None)
    return DeviceHealth(
        "pump-01", {IMAGE: "det@1", AUDIO: None}, on_change=record, clock=lambda: next(clock)
    )


def test_starting_parts_are_ok_and_every_modality_usable() -> None:
    health = tracker()
    assert health.state == "ok"
    assert health.unavailable() == {}
    assert health.summary() == {"image": "starting", "audio": "starting"}


def test_one_broken_part_degrades_and_all_broken_fails() -> None:
    health = tracker()
    health.set_source(IMAGE, "ok")
    health.set_source(AUDIO, "failed", "unplugged")
    assert (health.state, health.unavailable()) == ("degraded", {AUDIO: "unplugged"})
    health.set_model(IMAGE, "failed", "scorer error: boom")
    assert (health.state, health.unavailable()) == (
        "failed",
        {AUDIO: "unplugged", IMAGE: "scorer error: boom"},
    )
    assert health.summary() == {"image": "failed: scorer error: boom", "audio": "failed: unplugged"}
    health.set_model(IMAGE, "ok")
    health.set_source(AUDIO, "ok")
    assert health.state == "ok"


def test_a_degraded_source_still_counts_and_an_ended_one_does_not() -> None:
    health = tracker()
    health.set_source(IMAGE, "degraded", "frames dropped")
    health.set_source(AUDIO, "ended", "input ended")
    assert health.state == "degraded"
    assert health.unavailable() == {AUDIO: "input ended"}


def test_each_change_is_logged_once_and_reported(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.runtime.health")
    changes: list[str] = []
    health = tracker(changes)
    assert health.set_source(AUDIO, "failed", "no audio for 1.5 s")
    assert not health.set_source(AUDIO, "failed", "no audio for 1.5 s")
    assert health.set_source(AUDIO, "ok")
    assert changes == ["changed", "changed"]
    (failed, recovered) = caplog.records
    assert failed.levelno == logging.WARNING
    assert failed.getMessage() == "pump-01 audio source failed: no audio for 1.5 s"
    assert failed.fields == {  # type: ignore[attr-defined]
        "device": "pump-01",
        "part": "source",
        "modality": "audio",
        "state": "failed",
        "reason": "no audio for 1.5 s",
    }
    assert (recovered.levelno, recovered.getMessage()) == (logging.INFO, "pump-01 audio source ok")


def test_payload_follows_the_health_contract() -> None:
    health = tracker()
    health.set_source(IMAGE, "failed", "cannot open camera")
    assert health.payload() == {
        "device": "pump-01",
        "state": "degraded",
        "sources": {
            "image": {
                "state": "failed",
                "reason": "cannot open camera",
                "since": "2023-11-14T22:13:21.000Z",
            },
            "audio": {"state": "starting", "reason": "", "since": "2023-11-14T22:13:20.000Z"},
        },
        "models": {
            "image": {
                "state": "ok",
                "reason": "",
                "since": "2023-11-14T22:13:20.000Z",
                "model": "det@1",
            },
            "audio": {
                "state": "ok",
                "reason": "",
                "since": "2023-11-14T22:13:20.000Z",
                "model": None,
            },
        },
        "updated_at": "2023-11-14T22:13:21.000Z",
    }


def test_a_model_entry_says_since_when_it_is_in_its_state() -> None:
    health = tracker()
    health.set_model(AUDIO, "failed", "scorer error: boom")
    models = health.payload()["models"]
    assert models["audio"]["since"] == "2023-11-14T22:13:21.000Z"  # when it failed
    assert models["image"]["since"] == "2023-11-14T22:13:20.000Z"  # ok since the start
