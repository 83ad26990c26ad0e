"""`edge-agent fleet`: make signing keys, sign bundles of models and config, check them,
push them to the agents over MQTT, see what each site runs, roll one back on an agent.

    edge-agent fleet keygen --out keys/
    edge-agent fleet sign --key keys/fleet.key --name sound-model --version 1.3.0 \\
        --target 'plant-a/pump-*' --model models/sound.onnx --out bundles/sound-1.3.0
    edge-agent fleet verify bundles/sound-1.3.0 --trust keys/fleet.pub --config agent.yaml

    edge-agent fleet push bundles/sound-1.3.0 --config agent.yaml
    edge-agent fleet status --config agent.yaml
    edge-agent fleet rollback --config agent.yaml --name sound-model   # on the agent's machine

`verify` runs the checks an agent runs before it applies a bundle and prints the reason of the
first that fails (exit 1), or what the bundle holds and which devices it is for (exit 0).
`push` verifies with the config's `fleet.trusted_keys` (or `--trust`), then publishes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiomqtt

from agent.config.device import AgentConfig
from agent.config.loader import ConfigError, load_config
from agent.fleet.bundle import Content, make_bundle, verify_bundle
from agent.fleet.manifest import LEARNED_DIR, Identity, version_key
from agent.fleet.refusal import BundleRefused
from agent.fleet.rollout import restore_learned
from agent.fleet.signing import (
    key_id,
    load_private_key,
    new_private_key,
    private_key_pem,
    public_key_text,
    trusted_keys,
)
from agent.fleet.store import BundleStore, FleetStateError
from agent.fleet.transfer import publish_bundle
from agent.jsontext import loads_bounded
from agent.learning.store import CARD, LearnedStore, StoreError, read_card
from agent.sinks.mqtt.link import client_for
from agent.sinks.mqtt.topics import ANY, Topics

FLEET_HELP = "Sign bundles of models and config, push them to agents, see and roll back."
STATUS_WAIT_S = 3.0
EXIT_REFUSED = 1
EXIT_USAGE = 2
CONFIG_PATH = "config.yaml"


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `edge-agent fleet` and their options."""
    sub = parser.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    keygen = sub.add_parser("keygen", help="make an Ed25519 signing key and its public key")
    keygen.add_argument("--out", required=True, type=Path, help="folder for NAME.key, NAME.pub")
    keygen.add_argument("--name", default="fleet", help="file name of the pair (default fleet)")

    sign = sub.add_parser(
        "sign", help="put models, a config fragment, learned baselines in a signed bundle"
    )
    sign.add_argument("--key", required=True, type=Path, help="private key (from keygen)")
    sign.add_argument("--name", required=True, help="what is rolled out, e.g. sound-model")
    sign.add_argument("--version", required=True, type=version_text, help="e.g. 1.3.0")
    sign.add_argument(
        "--target", required=True, action="append",
        help="SITE/DEVICE glob the bundle is for, e.g. 'plant-a/pump-*' (repeatable)",
    )  # fmt: skip
    sign.add_argument("--model", action="append", type=Path, default=[], help="(repeatable)")
    sign.add_argument("--config", type=Path, help="a config fragment (YAML)")
    sign.add_argument(
        "--learned", action="append", default=[], type=learned_source, metavar="DEVICE=FOLDER",
        help="a device's learned baseline: a version folder of <storage>/learned/DEVICE/ "
        "(its card.json and files), for the agent watching that device (repeatable)",
    )  # fmt: skip
    sign.add_argument(
        "--url", help="where the files will be served over HTTP(S), each at URL/<its path> "
        "(the bundle's files/ folder as it is); without it they go over MQTT",
    )  # fmt: skip
    sign.add_argument("--out", required=True, type=Path, help="new folder for the bundle")

    verify = sub.add_parser("verify", help="run the checks an agent runs before it applies one")
    verify.add_argument("bundle", type=Path, help="the bundle's folder")
    verify.add_argument(
        "--trust", required=True, action="append",
        help="a public key, ed25519:BASE64 or a .pub file (repeatable)",
    )  # fmt: skip
    verify.add_argument("--config", type=Path, help="check for the agent of this config")
    verify.add_argument(
        "--running", action="append", default=[], metavar="NAME=VERSION",
        help="a version in use, so an older bundle is refused (repeatable)",
    )  # fmt: skip

    push = sub.add_parser("push", help="publish a bundle to the agents (retained, over MQTT)")
    push.add_argument("bundle", type=Path, help="the bundle's folder")
    push.add_argument("--config", required=True, type=Path, help="its broker section is used")
    push.add_argument("--trust", action="append", default=[],
                      help="a public key to verify with (default: fleet.trusted_keys)")  # fmt: skip

    status = sub.add_parser("status", help="what each site runs, and its last rollout")
    status.add_argument("--config", required=True, type=Path, help="its broker section is used")
    status.add_argument("--wait", type=float, default=STATUS_WAIT_S, help="seconds to listen")
    status.add_argument("--json", action="store_true", help="one JSON object")

    rollback = sub.add_parser(
        "rollback", help="on an agent's machine: back to the bundle version before"
    )
    rollback.add_argument("--config", required=True, type=Path, help="the agent's config")
    rollback.add_argument("--name", required=True, help="the bundle's name")


def version_text(text: str) -> str:
    """Parse --version."""
    try:
        version_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def run_fleet(args: argparse.Namespace) -> int:
    """Do what the subcommand asks; the exit status."""
    actions: dict[str, Any] = {
        "keygen": keygen, "sign": sign, "verify": verify, "push": push, "status": status,
        "rollback": rollback,
    }  # fmt: skip
    try:
        return int(actions[args.fleet_command](args))
    except ValueError as exc:
        print(f"fleet {args.fleet_command}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except aiomqtt.MqttError as exc:
        print(f"fleet {args.fleet_command}: broker unreachable: {exc}", file=sys.stderr)
        return EXIT_USAGE


def keygen(args: argparse.Namespace) -> int:
    """Write NAME.key (owner-only) and NAME.pub; never over an existing key."""
    key = new_private_key()
    args.out.mkdir(parents=True, exist_ok=True)
    private, public = args.out / f"{args.name}.key", args.out / f"{args.name}.pub"
    for path in (private, public):
        if path.exists():
            raise ValueError(f"{path} exists; keys are never overwritten")
    fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(private_key_pem(key))
    text = public_key_text(key.public_key())
    public.write_text(text + "\n")
    print(f"private key {private} (keep it off the agents)")
    print(f"public key  {public}: {text} (id {key_id(key.public_key())})")
    return 0


def sign(args: argparse.Namespace) -> int:
    """Make the bundle folder and print what it holds."""
    contents = [Content("model", path, f"models/{path.name}") for path in args.model]
    if args.config is not None:
        contents.append(Content("config", args.config, CONFIG_PATH))
    for device, folder in args.learned:
        contents += learned_contents(device, folder)
    if not contents:
        raise ValueError("nothing to sign: give --model, --config and/or --learned")
    for content in contents:
        if not content.source.is_file():
            raise ValueError(f"{content.source}: no such file")
    manifest = make_bundle(
        args.out, load_private_key(args.key), args.name, args.version, args.target, contents,
        url=args.url,
    )  # fmt: skip
    print(f"signed {manifest.name} {manifest.version} in {args.out}: "
          f"{len(manifest.files)} files, {manifest.total_bytes} bytes, "
          f"for {', '.join(manifest.targets)}")  # fmt: skip
    return 0


def verify(args: argparse.Namespace) -> int:
    """Check the bundle; the first refusal, or what it holds."""
    keys = trusted_keys([read_key(text) for text in args.trust])
    identity = None
    if args.config is not None:
        try:
            config = load_config(args.config)
        except ConfigError as exc:
            raise ValueError(exc.report()) from exc
        identity = Identity(config.site, tuple(d.id for d in config.devices))
    try:
        verified = verify_bundle(args.bundle, keys, identity, dict(map(running_pair, args.running)))
    except BundleRefused as exc:
        print(f"refused ({exc.reason}): {exc.detail}")
        return EXIT_REFUSED
    manifest = verified.manifest
    where = f" for {', '.join(verified.devices)}" if identity is not None else ""
    print(f"OK: {manifest.name} {manifest.version}{where}, made {manifest.created.isoformat()}")
    for entry in manifest.files:
        print(f"  {entry.role:<6} {entry.path}  {entry.size} bytes  sha256 {entry.sha256[:16]}…")
    return 0


def read_key(text: str) -> str:
    """A --trust value: the key itself, or a file holding it."""
    return text if text.startswith("ed25519:") else Path(text).read_text().strip()


def running_pair(text: str) -> tuple[str, str]:
    """NAME=VERSION of --running."""
    name, sep, version = text.partition("=")
    if not sep:
        raise ValueError(f"--running {text!r}: expected NAME=VERSION")
    version_key(version)
    return name, version


def agent_config(path: Path) -> AgentConfig:
    """The config file, or ValueError with its report."""
    try:
        return load_config(path)
    except ConfigError as exc:
        raise ValueError(exc.report()) from exc


def push(args: argparse.Namespace) -> int:
    """Verify the bundle, then publish it: chunks, then the envelope, all retained."""
    config = agent_config(args.config)
    keys = trusted_keys([read_key(t) for t in args.trust] or config.fleet.trusted_keys)
    if not keys:
        raise ValueError("no key to verify with: give --trust or set fleet.trusted_keys")
    try:
        verified = verify_bundle(args.bundle, keys, None, {})
    except BundleRefused as exc:
        print(f"not pushed, refused ({exc.reason}): {exc.detail}")
        return EXIT_REFUSED
    prefix = config.broker.topic_prefix

    async def publish() -> int:
        async with client_for(config.broker, config.broker.addresses()[0]) as client:
            return await publish_bundle(client, prefix, args.bundle, verified.manifest)

    sent = asyncio.run(publish())
    manifest = verified.manifest
    print(f"pushed {manifest.name} {manifest.version} ({sent} messages, retained) for "
          f"{', '.join(manifest.targets)}; see it applied: edge-agent fleet status")  # fmt: skip
    return 0


def status(args: argparse.Namespace) -> int:
    """Listen to every site's retained fleet report for a few seconds; print them."""
    config = agent_config(args.config)
    pattern = Topics(config.broker.topic_prefix, ANY).fleet

    async def listen() -> dict[str, Any]:
        found: dict[str, Any] = {}
        async with client_for(config.broker, config.broker.addresses()[0]) as client:
            await client.subscribe(pattern, qos=1)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.wait):
                    async for message in client.messages:
                        site = str(message.topic).split("/")[-2]
                        with contextlib.suppress(ValueError):
                            found[site] = loads_bounded(bytes(message.payload or b""), 8)
        return found

    reports = asyncio.run(listen())
    if args.json:
        print(json.dumps({"sites": reports}, indent=1))
        return 0
    if not reports:
        print(f"no agent reported on {pattern} within {args.wait:g} s")
    for site, report in sorted(reports.items()):
        running = report.get("running") or {}
        versions = ", ".join(f"{n} {v}" for n, v in sorted(running.items())) or "no bundle"
        print(f"{site}: {versions}")
        last = report.get("last")
        if isinstance(last, dict):
            why = f" ({last['reason']})" if last.get("reason") else ""
            print(f"  last: {last.get('name')} {last.get('version')} {last.get('result')}"
                  f" at {last.get('at')}{why}")  # fmt: skip
    return 0


def rollback(args: argparse.Namespace) -> int:
    """Back to the version before, recorded on disk (with the learned versions the bundle put
    in use); the running agent takes it on reload."""
    config = agent_config(args.config)
    store = BundleStore(config.storage.resolved() / "fleet")
    try:
        current = store.running().get(args.name)
        previous = store.rollback(args.name)
    except (ValueError, FleetStateError) as exc:
        print(f"fleet rollback: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if current is not None:
        restore_learned(store, LearnedStore(config.storage.resolved()), args.name, current)
    print(f"{args.name}: now {previous or 'no bundle (the config file alone)'}; "
          "the running agent takes it on reload (systemctl reload edge-agent)")  # fmt: skip
    return 0


def learned_source(text: str) -> tuple[str, Path]:
    """DEVICE=FOLDER of --learned."""
    device, sep, folder = text.partition("=")
    if not sep or not device or not folder:
        raise argparse.ArgumentTypeError(f"expected DEVICE=FOLDER, got {text!r}")
    return device, Path(folder)


def learned_contents(device: str, folder: Path) -> list[Content]:
    """A learned version's card and the files it lists, under learned/<device>/."""
    try:
        card = read_card(folder / CARD)
    except StoreError as exc:
        raise ValueError(f"--learned {device}: {exc}") from exc
    if card.device != device:
        raise ValueError(f"--learned {device}: {folder} was learned by {card.device!r}")
    base = f"{LEARNED_DIR}/{device}"
    contents = [Content("learned", folder / CARD, f"{base}/{CARD}")]
    for sense, part in card.senses.items():
        contents += [
            Content("learned", folder / sense / n, f"{base}/{sense}/{n}") for n in part.files
        ]
    return contents
