"""What the agent keeps on disk beside the outbox: the evidence behind each alarm."""
