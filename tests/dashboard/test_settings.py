"""The config's dashboard section and the command line's overrides."""

from __future__ import annotations

from typing import Any

import pytest

from agent.apps.dashboard.server import settings_from
from agent.config.loader import ConfigError, parse_config


def config(dashboard: dict[str, Any]) -> dict[str, Any]:
    return {
        "site": "plant",
        "broker": {"topic_prefix": "factory", "client_id": "agent-1"},
        "dashboard": dashboard,
        "devices": [{"id": "pump", "sources": {"modbus": {"registers": [{"name": "a",
                                                                       "address": 0}]}}}],
    }  # fmt: skip


def test_mistakes_name_the_field() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config({"token": "short", "prot": 80, "port": 0}))
    problems = "\n".join(caught.value.problems)
    assert "dashboard.token: " in problems and "8 characters" in problems
    assert "dashboard.prot: unknown key" in problems
    assert "dashboard.port: " in problems


def test_token_is_secret_and_overrides_apply() -> None:
    parsed = parse_config(config({"token": "long-enough-token", "port": 9000}))
    assert "long-enough-token" not in repr(parsed)
    settings = settings_from(parsed, ("10.0.0.5", 8883), None, "0.0.0.0", None)
    assert (settings.broker.host, settings.broker.port) == ("10.0.0.5", 8883)
    assert settings.broker.topic_prefix == "factory"
    assert settings.broker.client_id is None  # never the agent's own, or they evict each other
    assert (settings.dashboard.bind, settings.dashboard.port) == ("0.0.0.0", 9000)
    assert settings.dashboard.token is not None


def test_defaults_without_a_config() -> None:
    settings = settings_from(None, None, "edge-test", None, 8181)
    assert (settings.broker.host, settings.broker.port) == ("127.0.0.1", 1883)
    assert settings.broker.topic_prefix == "edge-test"
    assert (settings.dashboard.bind, settings.dashboard.port) == ("127.0.0.1", 8181)
    assert settings.history_file.name == "dashboard.sqlite"
