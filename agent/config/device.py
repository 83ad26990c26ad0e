"""Config of devices, fusion, alarms, the broker and the agent as a whole."""

from __future__ import annotations

import math
import os
from pathlib import Path

from pydantic import Field, SecretStr, model_validator

from agent.config.base import PositiveFloat, Probability, ReadableFile, StrictModel
from agent.config.dashboard import DashboardConfig
from agent.config.evidence import EvidenceConfig
from agent.config.metrics import MetricsConfig
from agent.config.sources import SourcesConfig
from agent.core.samples import SOURCE_MODALITY, Modality

DEFAULT_WEIGHTS: dict[Modality, float] = {
    Modality.IMAGE: 0.4,
    Modality.TEMPERATURE: 0.3,
    Modality.AUDIO: 0.2,
    Modality.SENSOR: 0.1,
}
_TOPIC_SAFE = r"^[A-Za-z0-9_.\-]+$"


class FusionConfig(StrictModel):
    """Weighted fusion of the latest score per modality, plus per-modality critical levels."""

    weights: dict[Modality, Probability] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    threshold: Probability = 0.3
    critical: dict[Modality, Probability] = Field(default_factory=dict)
    stale_after_s: PositiveFloat = 10.0

    @model_validator(mode="after")
    def _weights_sum_to_one(self) -> FusionConfig:
        total = sum(self.weights.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"weights must sum to 1.0, got {total:g}")
        return self


class AlarmConfig(StrictModel):
    """Lifecycle tuning so a flickering score does not flood subscribers."""

    hysteresis: Probability = 0.05
    min_hold_s: float = Field(default=10.0, ge=0.0)
    update_interval_s: float = Field(default=5.0, ge=0.0)
    update_delta: Probability = 0.1
    major_at: Probability = 0.6
    critical_at: Probability = 0.8


class LocationConfig(StrictModel):
    """Where a person finds the device on the shop floor."""

    line: str = ""
    zone: str = ""
    position: str = ""


class DeviceConfig(StrictModel):
    """One monitored machine: where it is, what watches it, and how to decide."""

    id: str = Field(pattern=_TOPIC_SAFE)
    location: LocationConfig = LocationConfig()
    sources: SourcesConfig
    fusion: FusionConfig = FusionConfig()
    alarm: AlarmConfig = AlarmConfig()

    @model_validator(mode="after")
    def _weights_cover_sources(self) -> DeviceConfig:
        present = {SOURCE_MODALITY[name] for name, cfg in self.sources if cfg is not None}
        if not any(self.fusion.weights.get(m, 0.0) > 0 for m in present) and not any(
            m in self.fusion.critical for m in present
        ):
            raise ValueError("fusion gives no weight or critical level to any configured source")
        return self


class TlsConfig(StrictModel):
    """MQTT over TLS: a CA to trust and, optionally, a client certificate."""

    enabled: bool = False
    ca_file: ReadableFile | None = None
    cert_file: ReadableFile | None = None
    key_file: ReadableFile | None = None
    insecure: bool = False


class BrokerConfig(StrictModel):
    """The MQTT broker the agent reports to."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    tls: TlsConfig = TlsConfig()
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    topic_prefix: str = Field(default="edge", pattern=r"^[A-Za-z0-9_.\-/]+$")
    keepalive_s: int = Field(default=30, ge=5)
    ack_timeout_s: PositiveFloat = 10.0


class InspectionConfig(StrictModel):
    """Inspection rounds: every device in turn, fresh samples of every modality."""

    enabled: bool = True
    interval_s: PositiveFloat = 60.0
    device_timeout_s: PositiveFloat = 5.0


class StorageConfig(StrictModel):
    """Where the agent keeps what must survive a restart (the alarm outbox, the evidence)."""

    dir: Path | None = None  # None: $STATE_DIRECTORY (systemd), else ~/.local/state/edge-agent
    evidence: EvidenceConfig = EvidenceConfig()

    def evidence_dir(self) -> Path:
        """The evidence folder: its own setting, else `evidence/` in the storage folder."""
        return self.evidence.dir if self.evidence.dir is not None else self.resolved() / "evidence"

    def resolved(self) -> Path:
        """The folder to use."""
        if self.dir is not None:
            return self.dir
        if state := os.environ.get("STATE_DIRECTORY"):
            return Path(state.split(":")[0])
        base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
        return Path(base) / "edge-agent"


class AgentConfig(StrictModel):
    """The whole YAML file."""

    site: str = Field(pattern=_TOPIC_SAFE)
    broker: BrokerConfig = BrokerConfig()
    storage: StorageConfig = StorageConfig()
    inspection: InspectionConfig = InspectionConfig()
    dashboard: DashboardConfig = DashboardConfig()
    metrics: MetricsConfig = MetricsConfig()
    devices: list[DeviceConfig] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_devices(self) -> AgentConfig:
        ids = [d.id for d in self.devices]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate device ids: {', '.join(dupes)}")
        return self
