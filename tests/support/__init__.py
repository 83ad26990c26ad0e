"""Reusable test infrastructure: real servers and devices on loopback."""
