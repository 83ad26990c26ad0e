"""Signed rollout end to end: `edge-agent fleet push` to two real agent processes over a real
Mosquitto. A good bundle is applied by both (their state shows its setting), one signed by an
untrusted key is refused by both, and a bundle that breaks a device after the switch is
rolled back by both within the watch window."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.cli import main
from agent.fleet.bundle import Content, make_bundle, verify_bundle
from agent.fleet.signing import public_key_text, trusted_keys
from agent.fleet.transfer import publish_bundle
from tests.support.agent_process import agent_config, agent_process, thermal_device
from tests.support.mqtt import Collector, MosquittoProcess, subscribe

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]

PREFIX = "rollout"
SITES = ("plant-a", "plant-b")
WITHIN_S = 30.0


def write_agent(tmp_path: Path, site: str, key: Ed25519PrivateKey, port: int) -> Path:
    config = agent_config(PREFIX, tmp_path / site / "state", [
        thermal_device("kiln-01", tmp_path / site, spot_c=None)
    ])  # fmt: skip
    config["site"] = site
    config["broker"] = {"topic_prefix": PREFIX, "host": "127.0.0.1", "port": port}
    config["fleet"] = {"trusted_keys": [public_key_text(key.public_key())],
                       "rollback_window_s": 4, "fetch_timeout_s": 20}  # fmt: skip
    path = tmp_path / site / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def bundle(tmp_path: Path, key: Ed25519PrivateKey, name: str, version: str, fragment: str) -> Path:
    source = tmp_path / f"{name}-{version}.yaml"
    source.write_text(fragment)
    folder = tmp_path / "bundles" / f"{name}-{version}"
    make_bundle(folder, key, name, version, ["plant-*/kiln-*"],
                [Content("config", source, "config.yaml")])  # fmt: skip
    return folder


def reports(seen: Collector) -> dict[str, dict[str, Any]]:
    """The latest fleet report of each site."""
    latest: dict[str, dict[str, Any]] = {}
    for topic, payload, _ in seen.messages:
        if topic.endswith("/fleet") and payload:
            latest[topic.split("/")[1]] = json.loads(payload)
    return latest


def every_site(seen: Collector, result: str, name: str, version: str) -> bool:
    latest = reports(seen)
    return all(
        (latest.get(site, {}).get("last") or {}).get("result") == result
        and latest[site]["last"]["name"] == name
        and latest[site]["last"]["version"] == version
        for site in SITES
    )


async def push(folder: Path, config: Path) -> int:
    return await asyncio.to_thread(main, ["fleet", "push", str(folder), "--config", str(config)])


def health_bundles(seen: Collector) -> dict[str, Any]:
    """The bundles each site's kiln health message names."""
    latest = {}
    for topic, payload, _ in seen.messages:
        if topic.endswith("/kiln-01/health"):
            latest[topic.split("/")[1]] = json.loads(payload).get("bundles")
    return latest


def thresholds(seen: Collector) -> set[float]:
    """The fused threshold of each site's latest state."""
    latest = {}
    for topic, payload, _ in seen.messages:
        if topic.endswith("/kiln-01/state"):
            latest[topic.split("/")[1]] = json.loads(payload)["threshold"]
    return set(latest.values())


async def test_a_bundle_is_applied_refused_or_rolled_back_by_every_agent(
    private_broker: MosquittoProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key, stranger = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    broker = ("127.0.0.1", private_broker.port)
    configs = [write_agent(tmp_path, site, key, private_broker.port) for site in SITES]
    tune = "devices:\n  - id: kiln-01\n    fusion: {threshold: 0.42}\n"
    good = bundle(tmp_path, key, "tune", "1.0.0", tune)
    untrusted = bundle(tmp_path, stranger, "evil", "9.0.0", tune)
    nowhere = "devices:\n  - id: kiln-01\n    sources: {infrared: {uri: /nowhere/*.png}}\n"
    broken = bundle(tmp_path, key, "tune", "1.1.0", nowhere)  # the source fails once switched
    async with (
        subscribe(*broker, f"{PREFIX}/#") as seen,
        agent_process(configs[0], broker, log=tmp_path / "a.log"),
        agent_process(configs[1], broker, log=tmp_path / "b.log"),
    ):
        await seen.wait_for(lambda c: set(reports(c)) == set(SITES), WITHIN_S)
        await seen.wait_for(lambda c: thresholds(c) == {0.3}, WITHIN_S)  # the file's default

        assert await push(good, configs[0]) == 0
        await seen.wait_for(lambda c: every_site(c, "applied", "tune", "1.0.0"), WITHIN_S)
        await seen.wait_for(lambda c: thresholds(c) == {0.42}, WITHIN_S)
        in_health = {site: {"tune": "1.0.0"} for site in SITES}
        await seen.wait_for(lambda c: health_bundles(c) == in_health, WITHIN_S)

        assert await push(untrusted, configs[0]) == 1  # push verifies before it publishes
        manifest = verify_bundle(untrusted, trusted_keys([public_key_text(stranger.public_key())]),
                                 None, {}).manifest  # fmt: skip
        async with aiomqtt.Client(*broker) as attacker:  # who publishes it anyway
            await publish_bundle(attacker, PREFIX, untrusted, manifest)
        # the version of an envelope no trusted key signed is not taken from it
        await seen.wait_for(lambda c: every_site(c, "refused", "evil", "?"), WITHIN_S)
        assert all("unknown_key" in r["last"]["reason"] for r in reports(seen).values())

        assert await push(broken, configs[0]) == 0
        await seen.wait_for(lambda c: every_site(c, "rolled_back", "tune", "1.1.0"), WITHIN_S)
        assert all("failed after the switch" in r["last"]["reason"] for r in reports(seen).values())
        await seen.wait_for(lambda c: thresholds(c) == {0.42}, WITHIN_S)

        capsys.readouterr()
        status = ["fleet", "status", "--config", str(configs[0]), "--wait", "2"]
        assert await asyncio.to_thread(main, status) == 0
        out = capsys.readouterr().out
    assert {site: r["running"] for site, r in reports(seen).items()} == {
        site: {"tune": "1.0.0"} for site in SITES
    }
    assert "plant-a: tune 1.0.0" in out and "plant-b: tune 1.0.0" in out
    assert "tune 1.1.0 rolled_back" in out
