"""Reading what the agent logged, for tests that check a fault is explained once."""

from __future__ import annotations

import pytest


def log_lines(caplog: pytest.LogCaptureFixture, containing: str) -> list[str]:
    """Messages logged so far that contain `containing`, in order."""
    return [r.getMessage() for r in caplog.records if containing in r.getMessage()]
