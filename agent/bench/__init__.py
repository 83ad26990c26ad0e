"""`edge-agent bench`: the real pipeline on 1080p streams, timed stage by stage."""
