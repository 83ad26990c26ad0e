"""`edge-agent learn`: learn devices' own normal beside (or instead of) the running agent."""
