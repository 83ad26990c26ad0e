"""The log formats: JSON lines for machines, text for a person at a terminal."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from agent.cli import build_parser, main
from agent.observe.logs import JsonLineFormatter, TextFormatter, configure_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def record(fields: dict[str, object] | None = None) -> logging.LogRecord:
    rec = logging.LogRecord(
        "agent.runtime.agent", logging.INFO, __file__, 1, "alarm %s", ("raised",), None
    )
    rec.created = 1_700_000_000.25
    if fields is not None:
        rec.fields = fields
    return rec


def test_text_line_has_time_level_logger_message_and_fields() -> None:
    line = TextFormatter().format(record({"device": "pump-01", "seq": 3, "note": "two words"}))
    when, rest = line.split(" ", 1)
    assert len(when) == 8 and when.count(":") == 2  # HH:MM:SS, local time
    assert rest == 'INFO  agent.runtime.agent  alarm raised  device=pump-01 seq=3 note="two words"'


def test_text_line_without_fields_ends_at_the_message() -> None:
    assert TextFormatter().format(record()).endswith("agent.runtime.agent  alarm raised")


def test_json_line_is_unchanged() -> None:
    line = JsonLineFormatter().format(record({"device": "pump-01", "seq": 3}))
    assert line == (
        '{"ts": "2023-11-14T22:13:20.250+00:00", "level": "info", "logger": "agent.runtime.agent", '
        '"msg": "alarm raised", "device": "pump-01", "seq": 3}'
    )


def emitted(log_format: str, is_tty: bool) -> str:
    out = io.StringIO()
    configure_logging("info", log_format, stream=out, is_tty=is_tty)
    logging.getLogger("agent.runtime.agent").info("alarm raised", extra={"fields": {"seq": 3}})
    return out.getvalue()


def test_auto_is_json_when_not_a_terminal() -> None:
    assert json.loads(emitted("auto", is_tty=False))["seq"] == 3


def test_auto_is_text_on_a_terminal() -> None:
    assert emitted("auto", is_tty=True).rstrip().endswith("alarm raised  seq=3")


@pytest.mark.parametrize("is_tty", [False, True])
def test_json_and_text_are_forced(is_tty: bool) -> None:
    assert json.loads(emitted("json", is_tty))["msg"] == "alarm raised"
    assert "alarm raised  seq=3" in emitted("text", is_tty)


def test_the_stream_is_asked_whether_it_is_a_terminal() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    configure_logging("info", "auto", stream=out)
    logging.getLogger("x").info("hello")
    assert out.getvalue().rstrip().endswith("x  hello")


def test_log_format_option(monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_parser().parse_args(["check-config", "f"]).log_format == "auto"
    seen: list[tuple[object, ...]] = []
    monkeypatch.setattr("agent.cli.configure_logging", lambda *args: seen.append(args))
    main(["--log-format", "json", "check-config", "/nonexistent.yaml"])
    assert seen == [("info", "json")]
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--log-format", "yaml", "check-config", "f"])


def test_log_format_json_forces_json_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """`--log-format json` wins even where auto would pick text."""
    monkeypatch.setattr("sys.stderr.isatty", lambda: True, raising=False)
    main(["--log-format", "json", "check-config", "/nonexistent.yaml"])
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, JsonLineFormatter)
    main(["check-config", "/nonexistent.yaml"])
    (handler,) = logging.getLogger().handlers
    assert isinstance(handler.formatter, TextFormatter)
