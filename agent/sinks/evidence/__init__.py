"""The evidence kept on disk beside the outbox and published with each alarm."""
