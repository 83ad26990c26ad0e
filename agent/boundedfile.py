"""Files read from outside (a config, a bundle, a card, the agent's own state): bounded in size
before a byte is parsed, and read no further than the bound, even from a pipe or a device."""

from __future__ import annotations

from pathlib import Path


class FileTooLargeError(ValueError):
    """The file holds more than the bound allows."""


def read_at_most(path: Path, max_bytes: int) -> bytes:
    """The whole file when it holds at most `max_bytes`; FileTooLargeError otherwise. OSError (a
    file missing or unreadable) passes through, for the caller to name."""
    with path.open("rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise FileTooLargeError(f"{path.name}: over {max_bytes} bytes")
    return raw
