"""Config of `edge-agent dashboard`: where it listens, who may read it, how long it remembers."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr

from agent.config.base import PositiveFloat, StrictModel


class DashboardConfig(StrictModel):
    """The operator dashboard; bound beyond loopback it insists on a token."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    token: SecretStr | None = Field(default=None, min_length=8)
    history_file: Path | None = None  # None: dashboard.sqlite in the agent's storage dir
    retention_days: PositiveFloat = 7.0
