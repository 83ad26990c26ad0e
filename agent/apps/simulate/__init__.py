"""Simulated devices for the demo and for trying a config without hardware."""
