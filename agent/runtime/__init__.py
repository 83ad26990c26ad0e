"""The agent process: device pipelines, systemd service, reload, inspection rounds, health."""
