"""Edge inspection agent: multi-sensor streams in, fused MQTT alarms out."""

__version__ = "0.1.0"
