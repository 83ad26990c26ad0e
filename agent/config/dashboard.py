"""Config of `edge-agent dashboard`: where it listens, who may read it, how long it remembers."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from agent.config.base import Days, StrictModel

MIN_TOKEN_LENGTH = 8
POSTGRESQL_SCHEMES = ("postgresql://", "postgres://")


class DashboardConfig(StrictModel):
    """The operator dashboard; bound beyond loopback it insists on a token."""

    bind: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    token: SecretStr | None = None
    # a postgresql:// URL (several dashboards may share the database); without one the
    # history is the SQLite history_file (None: dashboard.sqlite in the agent's storage dir)
    history: SecretStr | None = None
    history_file: Path | None = None
    retention_days: Days = 7.0
    # inbound messages over these are refused unread: JSON (state, health, alarm, ack,
    # inspection) and media (evidence files, snapshots)
    max_message_bytes: int = Field(default=256 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_media_bytes: int = Field(default=8 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024)
    # the live view holds at most this many devices and sites: any topic may name a new one,
    # so without a bound anyone who may publish could grow its memory by inventing names; a
    # message that would add one more is refused (`too_many`), known ones keep updating
    max_devices: int = Field(default=2000, ge=1, le=100_000)
    max_sites: int = Field(default=256, ge=1, le=10_000)
    # the latest snapshot per device and kind is held in memory: at most this many bytes of
    # them, the oldest dropped first (max_devices × four kinds × max_media_bytes is 64 GB)
    snapshot_memory_bytes: int = Field(
        default=256 * 1024 * 1024, ge=1024, le=16 * 1024 * 1024 * 1024
    )

    @model_validator(mode="after")
    def _a_snapshot_fits(self) -> DashboardConfig:
        if self.snapshot_memory_bytes < self.max_media_bytes:
            raise ValueError(
                f"snapshot_memory_bytes ({self.snapshot_memory_bytes}) must hold at least one "
                f"snapshot of max_media_bytes ({self.max_media_bytes})"
            )
        return self

    @field_validator("history")
    @classmethod
    def _postgresql_url(cls, url: SecretStr | None) -> SecretStr | None:
        if url is not None and not url.get_secret_value().startswith(POSTGRESQL_SCHEMES):
            raise ValueError("expected a postgresql://user:password@host:port/database URL")
        return url

    @field_validator("token")
    @classmethod
    def _long_enough(cls, token: SecretStr | None) -> SecretStr | None:
        if token is not None and len(token.get_secret_value()) < MIN_TOKEN_LENGTH:
            raise ValueError(f"must be at least {MIN_TOKEN_LENGTH} characters")
        return token
