"""The demo's first screen: its own 20 Hz replay is explained once, not warned about per device."""

from __future__ import annotations

import io
import logging

import pytest

from agent.apps.demo.broker import BrokerAddress
from agent.apps.demo.runner import ROWS_PER_S, announce, demo_template, replay_rate_explained
from agent.inference.metadata import ModelMetadata
from agent.senses.sensor import scorer

RATE_WARNING = "trained on 1 Hz samples but the device is polled at 20 Hz"


def warn_on_rate() -> None:
    scorer._warn_on_rate(ModelMetadata({"sample_hz": "1"}, "sensor-iforest@test"), 20.0)


def test_a_real_run_is_warned_about_the_polling_rate(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        warn_on_rate()
    assert RATE_WARNING in caplog.text


def test_the_demo_drops_that_warning_only_while_it_runs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        with replay_rate_explained():
            warn_on_rate()
            scorer.log.warning("another warning still shows")
        assert RATE_WARNING not in caplog.text
        assert "another warning still shows" in caplog.text
        warn_on_rate()  # after the demo, the filter is gone
    assert RATE_WARNING in caplog.text


def test_the_opening_lines_say_it_once_plainly() -> None:
    out = io.StringIO()
    announce(BrokerAddress("127.0.0.1", 1883, embedded=True), "edge/demo-plant/#", out)
    text = out.getvalue()
    assert "replay 1 Hz recordings 20x faster, polled at 20 Hz" in text
    assert "{" not in text  # plain words, not JSON


def test_the_note_matches_the_demo_config() -> None:
    polls = {d["sources"]["modbus"]["poll_hz"] for d in demo_template()["devices"]}
    assert polls == {ROWS_PER_S}
