"""Commands built on the agent: dashboard, demo, bench, evaluate, simulate."""
