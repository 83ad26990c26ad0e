"""Where the agent serves its Prometheus metrics (off unless a port is set)."""

from __future__ import annotations

from pydantic import Field

from agent.config.base import StrictModel


class MetricsConfig(StrictModel):
    """`port: null` turns the /metrics endpoint off; 0 picks a free port (tests)."""

    port: int | None = Field(default=None, ge=0, le=65535)
    bind: str = "127.0.0.1"  # set 0.0.0.0 for a Prometheus on another machine
