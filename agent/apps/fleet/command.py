"""`edge-agent fleet`: make signing keys, sign bundles of models and config, check them.

    edge-agent fleet keygen --out keys/
    edge-agent fleet sign --key keys/fleet.key --name sound-model --version 1.3.0 \\
        --target 'plant-a/pump-*' --model models/sound.onnx --out bundles/sound-1.3.0
    edge-agent fleet verify bundles/sound-1.3.0 --trust keys/fleet.pub --config agent.yaml

`verify` runs the checks an agent runs before it applies a bundle and prints the reason of the
first that fails (exit 1), or what the bundle holds and which devices it is for (exit 0).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from agent.config.loader import ConfigError, load_config
from agent.fleet.bundle import Content, make_bundle, verify_bundle
from agent.fleet.manifest import Identity, version_key
from agent.fleet.refusal import BundleRefused
from agent.fleet.signing import (
    key_id,
    load_private_key,
    new_private_key,
    private_key_pem,
    public_key_text,
    trusted_keys,
)

FLEET_HELP = "Make signing keys, sign bundles of models and config for agents, check bundles."
EXIT_REFUSED = 1
EXIT_USAGE = 2
CONFIG_PATH = "config.yaml"


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The subcommands of `edge-agent fleet` and their options."""
    sub = parser.add_subparsers(dest="fleet_command", required=True, metavar="ACTION")

    keygen = sub.add_parser("keygen", help="make an Ed25519 signing key and its public key")
    keygen.add_argument("--out", required=True, type=Path, help="folder for NAME.key, NAME.pub")
    keygen.add_argument("--name", default="fleet", help="file name of the pair (default fleet)")

    sign = sub.add_parser("sign", help="put models and a config fragment in a signed bundle")
    sign.add_argument("--key", required=True, type=Path, help="private key (from keygen)")
    sign.add_argument("--name", required=True, help="what is rolled out, e.g. sound-model")
    sign.add_argument("--version", required=True, type=version_text, help="e.g. 1.3.0")
    sign.add_argument(
        "--target", required=True, action="append",
        help="SITE/DEVICE glob the bundle is for, e.g. 'plant-a/pump-*' (repeatable)",
    )  # fmt: skip
    sign.add_argument("--model", action="append", type=Path, default=[], help="(repeatable)")
    sign.add_argument("--config", type=Path, help="a config fragment (YAML)")
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


def version_text(text: str) -> str:
    """Parse --version."""
    try:
        version_key(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc
    return text


def run_fleet(args: argparse.Namespace) -> int:
    """Do what the subcommand asks; the exit status."""
    actions: dict[str, Any] = {"keygen": keygen, "sign": sign, "verify": verify}
    try:
        return int(actions[args.fleet_command](args))
    except ValueError as exc:
        print(f"fleet {args.fleet_command}: {exc}", file=sys.stderr)
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
    if not contents:
        raise ValueError("nothing to sign: give --model and/or --config")
    for content in contents:
        if not content.source.is_file():
            raise ValueError(f"{content.source}: no such file")
    manifest = make_bundle(
        args.out, load_private_key(args.key), args.name, args.version, args.target, contents
    )
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
