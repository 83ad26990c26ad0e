"""Observation of the running agent: metrics, stage timing, logs, GPU memory, process usage."""
