"""Logging: JSON lines for journald and log shippers, readable text for a person at a terminal."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import TextIO

LOG_FORMATS = ("auto", "text", "json")


class JsonLineFormatter(logging.Formatter):
    """ts, level, logger, msg, plus any `extra={"fields": {...}}` merged in."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def _field_value(value: object) -> str:
    """One field's value as a person reads it: bare when it can be, quoted when it has spaces."""
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    if not text or any(c.isspace() or c in "\"'=" for c in text):
        return json.dumps(text)
    return text


class TextFormatter(logging.Formatter):
    """`17:44:34 INFO  agent.runtime.pipeline  alarm raised  device=pump-01 seq=3` (local time)."""

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S")
        line = f"{when} {record.levelname:<5} {record.name}  {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict) and fields:
            line += "  " + " ".join(f"{k}={_field_value(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def choose_formatter(log_format: str, is_tty: bool) -> logging.Formatter:
    """`text` or `json` as asked; `auto` is text on a terminal and JSON lines otherwise."""
    if log_format not in LOG_FORMATS:
        raise ValueError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    if log_format == "text" or (log_format == "auto" and is_tty):
        return TextFormatter()
    return JsonLineFormatter()


def configure_logging(
    level: str = "info",
    log_format: str = "auto",
    stream: TextIO | None = None,
    is_tty: bool | None = None,
) -> None:
    """Route all logs to stderr (or `stream`) in the chosen format; quiet chatty libraries.

    `is_tty` answers whether the stream is a terminal; by default the stream is asked.
    """
    out = stream if stream is not None else sys.stderr
    if is_tty is None:
        try:
            is_tty = bool(out.isatty())
        except (AttributeError, ValueError):  # no isatty, or a closed stream
            is_tty = False
    handler = logging.StreamHandler(out)
    handler.setFormatter(choose_formatter(log_format, is_tty))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("pymodbus", "aiomqtt", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
