"""Config of the evidence store: where alarm evidence is kept, for how long, and how much."""

from __future__ import annotations

from pathlib import Path

from agent.config.base import Days, NonNegativeSeconds, PositiveFloat, StrictModel


class EvidenceConfig(StrictModel):
    """Evidence files per alarm (frame, thermal image, sound clip, sensor window) and snapshots."""

    enabled: bool = True
    dir: Path | None = None  # None: <storage dir>/evidence
    retention_days: Days = 7.0
    max_mb: PositiveFloat = 2048.0  # disk cap; the oldest files go first when it is reached
    snapshot_interval_s: NonNegativeSeconds = 5.0  # retained live frames, at most 1/n s

    @property
    def max_bytes(self) -> int:
        """The disk cap in bytes."""
        return int(self.max_mb * 1024 * 1024)

    @property
    def retention_s(self) -> float:
        """How long a file may be kept, in seconds."""
        return self.retention_days * 86_400.0
