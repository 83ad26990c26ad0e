"""Config of the agent as a whole: its devices, the broker, storage and inspection rounds."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator

from agent.config.base import ReadableFile, Seconds, StrictModel
from agent.config.dashboard import DashboardConfig
from agent.config.decision import AlarmConfig, FusionConfig, LocationConfig
from agent.config.evidence import EvidenceConfig
from agent.config.fleet import FleetConfig
from agent.config.learning import LearningConfig
from agent.config.metrics import MetricsConfig
from agent.config.sources import SourcesConfig, validate_sources
from agent.senses.registry import SENSES, default_weights

_TOPIC_SAFE = r"^[A-Za-z0-9_.\-]+$"


class DeviceConfig(StrictModel):
    """One monitored machine: where it is, what watches it, and how to decide."""

    id: str = Field(pattern=_TOPIC_SAFE)
    location: LocationConfig = LocationConfig()
    sources: SourcesConfig
    fusion: FusionConfig = Field(default_factory=FusionConfig, validate_default=True)
    alarm: AlarmConfig = AlarmConfig()
    learning: LearningConfig = LearningConfig()

    _sources = field_validator("sources", mode="plain")(validate_sources)

    @field_validator("fusion", mode="after")
    @classmethod
    def _known_senses_with_defaults(cls, fusion: FusionConfig) -> FusionConfig:
        for field in ("weights", "critical"):
            unknown = sorted(set(getattr(fusion, field)) - set(SENSES))
            if unknown:
                known = ", ".join(SENSES)
                raise ValueError(f"{field}: no sense named {', '.join(unknown)} (senses: {known})")
        if fusion.weights:
            return fusion
        return fusion.model_copy(update={"weights": default_weights()})

    @model_validator(mode="after")
    def _weights_cover_sources(self) -> DeviceConfig:
        present = set(self.sources.configured())
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


class BrokerAddress(StrictModel):
    """Where one broker listens."""

    host: str = Field(min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


class BrokerConfig(StrictModel):
    """The MQTT broker the agent reports to."""

    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: int = Field(default=1883, ge=1, le=65535)
    # brokers to move to, in this order, while the one above is unreachable (another node of
    # a cluster, a second bridge); credentials, TLS and client id are the same for every one
    failover: list[BrokerAddress] = Field(default_factory=list, max_length=8)
    tls: TlsConfig = TlsConfig()
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    topic_prefix: str = Field(default="edge", pattern=r"^[A-Za-z0-9_.\-/]+$")
    keepalive_s: int = Field(default=30, ge=5, le=65535)  # MQTT's own limit
    ack_timeout_s: Seconds = 10.0
    # inbound JSON control messages (acks) over this are refused unread
    max_message_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)

    def addresses(self) -> list[BrokerAddress]:
        """Every broker, the preferred first."""
        return [BrokerAddress(host=self.host, port=self.port), *self.failover]


class InspectionConfig(StrictModel):
    """Inspection rounds: every device in turn, fresh samples of every modality."""

    enabled: bool = True
    interval_s: Seconds = 60.0
    device_timeout_s: Seconds = 5.0


class StorageConfig(StrictModel):
    """Where the agent keeps what must survive a restart (the alarm outbox, the evidence)."""

    dir: Path | None = None  # None: $STATE_DIRECTORY (systemd), else ~/.local/state/edge-agent
    evidence: EvidenceConfig = EvidenceConfig()
    # free space on the storage folder's filesystem: below min_free_mb evidence shrinks, below
    # critical_free_mb no evidence file is written; checked every check_interval_s
    min_free_mb: float = Field(default=256.0, ge=0.0, le=1_048_576.0, allow_inf_nan=False)
    critical_free_mb: float = Field(default=64.0, ge=0.0, le=1_048_576.0, allow_inf_nan=False)
    check_interval_s: Seconds = 10.0

    @model_validator(mode="after")
    def _critical_below_low(self) -> StorageConfig:
        if self.critical_free_mb > self.min_free_mb:
            raise ValueError("critical_free_mb must not exceed min_free_mb")
        return self

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


RESERVED_SITE = "fleet"


class AgentConfig(StrictModel):
    """The whole YAML file."""

    site: str = Field(pattern=_TOPIC_SAFE)
    broker: BrokerConfig = BrokerConfig()
    storage: StorageConfig = StorageConfig()
    inspection: InspectionConfig = InspectionConfig()
    dashboard: DashboardConfig = DashboardConfig()
    metrics: MetricsConfig = MetricsConfig()
    fleet: FleetConfig = FleetConfig()
    devices: list[DeviceConfig] = Field(min_length=1)

    @field_validator("site")
    @classmethod
    def _not_reserved(cls, site: str) -> str:
        if site == RESERVED_SITE:
            raise ValueError(f"'{RESERVED_SITE}' is reserved: <prefix>/fleet/ carries bundles")
        return site

    @model_validator(mode="after")
    def _unique_devices(self) -> AgentConfig:
        ids = [d.id for d in self.devices]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate device ids: {', '.join(dupes)}")
        return self

    @model_validator(mode="after")
    def _shared_hardware_agrees(self) -> AgentConfig:
        """Each sense checks what its devices share, e.g. one serial port's baudrate."""
        errors: list[str] = []
        for name, spec in SENSES.items():
            sections = {
                d.id: section
                for d in self.devices
                if (section := d.sources.configured().get(name)) is not None
            }
            errors += spec.across_devices(sections)
        if errors:
            raise ValueError("; ".join(errors))
        return self
