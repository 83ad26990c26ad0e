"""Rollout to a fleet of agents: signed bundles of models and config, verified before use."""
