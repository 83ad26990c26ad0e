"""Where decisions go: the Sink seam, the MQTT outbox and publisher, the evidence store."""
