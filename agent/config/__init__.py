"""Typed, strict configuration of the agent (see deploy/jetson/config.example.yaml)."""

from agent.config.base import overridden
from agent.config.dashboard import DashboardConfig
from agent.config.device import (
    AgentConfig,
    AlarmConfig,
    BrokerConfig,
    DeviceConfig,
    FusionConfig,
    InspectionConfig,
    LocationConfig,
    StorageConfig,
    TlsConfig,
)
from agent.config.evidence import EvidenceConfig
from agent.config.loader import ConfigError, load_config, parse_config
from agent.config.metrics import MetricsConfig
from agent.config.sources import (
    CameraConfig,
    DetectorConfig,
    InfraredConfig,
    MicrophoneConfig,
    ModbusConfig,
    RegisterConfig,
    SensorAnomalyConfig,
    SoundClassifierConfig,
    SourcesConfig,
    TemperatureScorerConfig,
    ThermalCalibration,
)

__all__ = [
    "AgentConfig",
    "AlarmConfig",
    "BrokerConfig",
    "CameraConfig",
    "ConfigError",
    "DashboardConfig",
    "DetectorConfig",
    "DeviceConfig",
    "EvidenceConfig",
    "FusionConfig",
    "InfraredConfig",
    "InspectionConfig",
    "LocationConfig",
    "MetricsConfig",
    "MicrophoneConfig",
    "ModbusConfig",
    "RegisterConfig",
    "SensorAnomalyConfig",
    "SoundClassifierConfig",
    "SourcesConfig",
    "StorageConfig",
    "TemperatureScorerConfig",
    "ThermalCalibration",
    "TlsConfig",
    "load_config",
    "overridden",
    "parse_config",
]
