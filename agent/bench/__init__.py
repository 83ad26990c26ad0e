"""Benchmarks of the agent's pipeline; the Ultralytics comparison lives here."""
