"""Sinks that carry decisions out of the agent (MQTT)."""
