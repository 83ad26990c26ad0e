"""`edge-agent fleet`: make, sign and check rollout bundles."""
