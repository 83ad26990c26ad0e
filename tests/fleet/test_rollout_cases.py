"""The rollout's other outcomes, on an agent's hooks stood in for: a reload that fails rolls
back at once and that version is never taken again, a fragment that does not apply and files
that never come refuse the bundle, the same version again is not newer."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.config.device import AgentConfig
from agent.config.loader import ConfigError, parse_config
from agent.fleet.bundle import ENVELOPE_FILE, FILES_DIR, Content, make_bundle, verify_bundle
from agent.fleet.manifest import Identity
from agent.fleet.rollout import Rollout, RolloutHooks
from agent.fleet.signing import public_key_text
from agent.fleet.store import BundleStore
from agent.fleet.transfer import bundle_topic, publish_bundle
from agent.learning.store import LearnedStore
from tests.support.learned import learned_elsewhere
from tests.support.mqtt import free_port


class Agent:
    """What the rollout asks of an agent, recorded; `fail_reload` / `bad_config` to break it."""

    def __init__(self, config: AgentConfig, broker: tuple[str, int]) -> None:
        self.config = config
        self.broker = broker
        self.fail_reload = False
        self.bad_config = False
        self.applied: list[AgentConfig] = []
        self.reports: list[bytes] = []
        self.versions: list[dict[str, dict[str, str]]] = []  # per device, what health shows

    def hooks(self) -> RolloutHooks:
        return RolloutHooks(
            identity=lambda: Identity("plant-a", ("kiln-01",)),
            load=self.load,
            apply=self.apply,
            failures=lambda devices: set(),
            publish=self.publish,
            connect=lambda: aiomqtt.Client(*self.broker),
            versions=self.versions.append,
        )

    def load(self, running: Any) -> AgentConfig:
        if self.bad_config:
            raise ConfigError("bundle tune", ["devices[0]: names no device"])
        return self.config

    async def apply(self, config: AgentConfig) -> None:
        if self.fail_reload:
            self.fail_reload = False  # the rollback's own reload works
            raise RuntimeError("model did not load")
        self.applied.append(config)

    async def publish(self, topic: str, payload: bytes) -> None:
        self.reports.append(payload)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def setup(
    tmp_path: Path, key: Ed25519PrivateKey, broker: tuple[str, int], topic_prefix: str
) -> tuple[Rollout, Agent, BundleStore]:
    config = parse_config({
        "site": "plant-a",
        "fleet": {"trusted_keys": [public_key_text(key.public_key())],
                  "rollback_window_s": 0.5, "fetch_timeout_s": 2},
        "devices": [{"id": "kiln-01",
                     "sources": {"modbus": {"registers": [{"name": "a", "address": 0}]}}}],
    })  # fmt: skip
    agent = Agent(config, broker)
    store = BundleStore(tmp_path / "fleet")
    learned = LearnedStore(tmp_path)
    rollout = Rollout(config, store, learned, topic_prefix, "site/fleet", agent.hooks())
    return rollout, agent, store


def bundle(
    tmp_path: Path, key: Ed25519PrivateKey, version: str, learned: list[Content] | None = None
) -> Path:
    (tmp_path / "fragment.yaml").write_text("devices: []\n")
    folder = tmp_path / f"tune-{version}"
    make_bundle(folder, key, "tune", version, ["plant-a/*"],
                [Content("config", tmp_path / "fragment.yaml", "config.yaml"),
                 *(learned or [])])  # fmt: skip
    return folder


async def offer(rollout: Rollout, broker: tuple[str, int], prefix: str, folder: Path) -> None:
    """Publish the bundle like `fleet push`, and hand the rollout its envelope."""
    manifest = verify_bundle(folder, rollout.trusted, None, {}).manifest
    async with aiomqtt.Client(*broker) as client:
        await publish_bundle(client, prefix, folder, manifest)
    await rollout.consider("tune", (folder / ENVELOPE_FILE).read_bytes())


async def test_a_reload_that_fails_rolls_back_at_once_and_for_good(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, agent, store = setup
    agent.fail_reload = True
    await offer(rollout, broker, topic_prefix, bundle(tmp_path, key, "2.0"))
    assert rollout.last is not None and rollout.last["result"] == "rolled_back"
    assert "reload failed: RuntimeError: model did not load" in rollout.last["reason"]
    assert store.running() == {} and len(agent.applied) == 1  # the config before, again
    await rollout.consider("tune", (tmp_path / "tune-2.0" / ENVELOPE_FILE).read_bytes())
    assert rollout.last["result"] == "refused" and rollout.last["reason"].startswith("rolled_back")


async def test_a_fragment_that_does_not_apply_switches_nothing(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, agent, store = setup
    agent.bad_config = True
    await offer(rollout, broker, topic_prefix, bundle(tmp_path, key, "2.0"))
    assert rollout.last is not None and rollout.last["reason"].startswith("invalid_config")
    assert store.running() == {} and agent.applied == []


async def test_applied_once_then_the_same_version_is_not_newer(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, agent, store = setup
    folder = bundle(tmp_path, key, "2.0")
    await offer(rollout, broker, topic_prefix, folder)
    assert rollout.last is not None and rollout.last["result"] == "applied"
    assert store.running() == {"tune": "2.0"} and len(agent.applied) == 1
    reports = len(agent.reports)
    await rollout.consider("tune", (folder / ENVELOPE_FILE).read_bytes())  # seen again
    assert rollout.last["result"] == "applied" and len(agent.applied) == 1  # quietly not newer
    assert len(agent.reports) == reports
    assert b'"running":{"tune":"2.0"}' in agent.reports[-1]
    assert agent.versions[-1] == {"kiln-01": {"tune": "2.0"}}  # in the device's health


async def test_files_that_never_come_refuse_the_bundle(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, agent, store = setup
    folder = bundle(tmp_path, key, "2.0")
    envelope = (folder / ENVELOPE_FILE).read_bytes()
    async with aiomqtt.Client(*broker) as client:  # the envelope, but none of its chunks
        await client.publish(bundle_topic(topic_prefix, "tune"), envelope, qos=1, retain=True)
    await rollout.consider("tune", envelope)
    assert rollout.last is not None and rollout.last["reason"].startswith("missing_file")
    assert "1 of 1 chunks did not arrive" in rollout.last["reason"]
    assert store.running() == {} and agent.applied == []


async def test_a_broker_that_cannot_be_reached_refuses_the_bundle_and_leaves_no_staging(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    """The fetch's own connection refused: reported like chunks that never come, its staging
    folder discarded, so `fleet status` shows why and the disk keeps nothing of it."""
    rollout, agent, store = setup
    agent.broker = ("127.0.0.1", free_port())  # nothing listens there
    folder = bundle(tmp_path, key, "2.0")
    await rollout.consider("tune", (folder / ENVELOPE_FILE).read_bytes())
    assert rollout.last is not None and rollout.last["reason"].startswith("missing_file")
    assert "chunks not fetched: MqttError" in rollout.last["reason"]
    assert agent.reports  # published for `fleet status`
    assert not any((tmp_path / "fleet" / "staging").rglob("*"))
    assert store.running() == {} and agent.applied == []


async def test_a_learned_baseline_is_put_in_use_and_undone_with_its_bundle(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, agent, _ = setup
    learned = [*learned_elsewhere(tmp_path, "kiln-01"), *learned_elsewhere(tmp_path, "kiln-99")]
    await offer(rollout, broker, topic_prefix, bundle(tmp_path, key, "2.0", learned))
    assert rollout.last is not None and rollout.last["result"] == "applied"
    here = rollout.learned
    assert here.current("kiln-01") == 1 and here.current("kiln-99") is None  # its own only
    card = here.card("kiln-01")
    assert card is not None and card.threshold == 0.9
    assert (here.folder("kiln-01", 1) / "sensor" / "f.bin").read_bytes() == b"x"

    agent.fail_reload = True
    await offer(rollout, broker, topic_prefix, bundle(tmp_path, key, "3.0", learned))
    assert rollout.last["result"] == "rolled_back"
    assert here.current("kiln-01") == 1 and here.versions("kiln-01") == [1, 2]  # 3.0's undone


async def test_a_learned_baseline_of_another_device_is_refused(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    broker: tuple[str, int], topic_prefix: str,
) -> None:  # fmt: skip
    rollout, _, store = setup
    foreign = learned_elsewhere(tmp_path, "kiln-07")
    renamed = [Content(c.role, c.source, c.path.replace("kiln-07", "kiln-01")) for c in foreign]
    await offer(rollout, broker, topic_prefix, bundle(tmp_path, key, "2.0", renamed))
    assert rollout.last is not None and rollout.last["reason"].startswith("invalid_learned")
    assert rollout.learned.current("kiln-01") is None and store.running() == {}


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTP server of a folder (a web server where the bundles' files are published)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", root
    server.shutdown()
    server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


async def test_files_served_over_http_are_downloaded_and_checked(
    setup: tuple[Rollout, Agent, BundleStore], tmp_path: Path, key: Ed25519PrivateKey,
    http_server: tuple[str, Path],
) -> None:  # fmt: skip
    rollout, _, store = setup
    url, root = http_server
    (tmp_path / "fragment.yaml").write_text("devices: []\n")
    (tmp_path / "model.onnx").write_bytes(b"m" * 300_000)  # more than one read
    contents = [Content("config", tmp_path / "fragment.yaml", "config.yaml"),
                Content("model", tmp_path / "model.onnx", "models/model.onnx")]  # fmt: skip
    folder = tmp_path / "served"
    make_bundle(folder, key, "tune", "5.0", ["plant-a/*"], contents, url=f"{url}/tune-5.0")
    shutil.copytree(folder / FILES_DIR, root / "tune-5.0")  # published as the bundle has them
    envelope = (folder / ENVELOPE_FILE).read_bytes()

    (root / "tune-5.0" / "models" / "model.onnx").write_bytes(b"M" * 300_000)  # tampered
    await rollout.consider("tune", envelope)
    assert rollout.last is not None and rollout.last["reason"].startswith("wrong_hash")
    assert not (store.folder / "staging" / "tune-5.0").exists()  # nothing left of it

    (root / "tune-5.0" / "models" / "model.onnx").unlink()  # gone
    await rollout.consider("tune", envelope)
    assert rollout.last["reason"].startswith("missing_file") and "404" in rollout.last["reason"]

    shutil.copy(tmp_path / "model.onnx", root / "tune-5.0" / "models" / "model.onnx")
    await rollout.consider("tune", envelope)
    assert rollout.last["result"] == "applied" and store.running() == {"tune": "5.0"}
    kept = store.files_dir("tune", "5.0") / "models" / "model.onnx"
    assert kept.read_bytes() == b"m" * 300_000


def test_an_oversized_envelope_is_not_even_kept(setup: tuple[Rollout, Agent, BundleStore]) -> None:
    rollout, _, _ = setup
    rollout.offer("tune", b"{" + b" " * (rollout.limits.max_envelope_bytes + 1))
    assert rollout.last is not None and rollout.last["reason"].startswith("too_large")
    assert not rollout._waiting
