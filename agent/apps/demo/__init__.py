"""`edge-agent demo`: the real pipeline on bundled sample streams, with real MQTT."""
