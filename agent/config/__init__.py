"""Typed, strict configuration of the agent (see docs/configuration.md).

Import from the modules: `loader` reads a file, `device` holds the agent and device config
(its `sources:` composed from the sense registry), `decision` the fusion and alarm settings.
"""
