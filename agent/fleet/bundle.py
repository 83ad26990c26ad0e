"""A bundle on disk: made and signed by `edge-agent fleet sign`, verified before it is used.

    <bundle>/bundle.json        the signed envelope of the manifest
    <bundle>/files/<path>       each file the manifest lists

Verification runs every check before anything is used, cheapest first: the envelope's size
and shape, a trusted key's signature, the manifest's schema, the targets, the version, the
declared sizes, then each file's size and sha256 (read in chunks, never more than declared).
The first failed check refuses the bundle with its reason; nothing of it is applied.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import ValidationError

from agent.boundedfile import FileTooLargeError, read_at_most
from agent.fleet.manifest import (
    MANIFEST_DEPTH,
    BundleFile,
    Identity,
    Manifest,
    Role,
    targeted_devices,
    version_key,
)
from agent.fleet.refusal import BundleRefused, Reason
from agent.fleet.signing import open_envelope, sign
from agent.jsontext import loads_bounded

ENVELOPE_FILE = "bundle.json"
FILES_DIR = "files"


@dataclass(frozen=True, slots=True)
class BundleLimits:
    """What an agent accepts at most (`fleet.max_bundle_mb` and the envelope's own bound)."""

    max_envelope_bytes: int = 256 * 1024
    max_total_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Content:
    """A file to put in a bundle: its role, where it is now, its path in the bundle."""

    role: Role
    source: Path
    path: str


@dataclass(frozen=True, slots=True)
class VerifiedBundle:
    """A bundle that passed every check, and the devices of this agent it is for."""

    folder: Path
    manifest: Manifest
    devices: tuple[str, ...]

    def file(self, entry: BundleFile) -> Path:
        """Where a listed file lies."""
        return self.folder / FILES_DIR / entry.path


def make_bundle(
    folder: Path,
    key: Ed25519PrivateKey,
    name: str,
    version: str,
    targets: Sequence[str],
    contents: Sequence[Content],
    created: datetime | None = None,
    url: str | None = None,
) -> Manifest:
    """Copy the contents under `folder/files`, list them in a manifest and sign it.

    `folder` must not exist or be empty: a bundle is never a mix of two. ValueError (from the
    manifest's schema, naming the field) before anything is written when the inputs are wrong.
    """
    entries = [
        BundleFile(
            path=c.path, role=c.role, size=c.source.stat().st_size, sha256=sha256_of(c.source)
        )
        for c in contents
    ]
    manifest = Manifest(
        name=name,
        version=version,
        created=created or datetime.now(UTC),
        targets=list(targets),
        files=entries,
        url=url,
    )
    if folder.exists() and any(folder.iterdir()):
        raise ValueError(f"{folder}: not empty; a bundle goes in a new folder")
    for content in contents:
        target = folder / FILES_DIR / content.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content.source.read_bytes())
    payload = manifest.model_dump_json(indent=2).encode()
    (folder / ENVELOPE_FILE).write_bytes(sign(payload, key))
    return manifest


def verify_bundle(
    folder: Path,
    trusted: Mapping[str, Ed25519PublicKey],
    identity: Identity | None,
    running: Mapping[str, str],
    limits: BundleLimits = BundleLimits(),
) -> VerifiedBundle:
    """The bundle in `folder`, checked for the agent `identity` (None: for no agent in
    particular, the signer's own check, so no target is matched) with `running` (bundle name
    -> the version in use); BundleRefused with the first failed check's reason."""
    envelope = read_bounded(folder / ENVELOPE_FILE, limits.max_envelope_bytes)
    manifest, devices = check_envelope(envelope, trusted, identity, running, limits)
    verified = VerifiedBundle(folder, manifest, devices)
    for entry in manifest.files:
        check_file(verified.file(entry), entry)
    return verified


def check_envelope(
    envelope: bytes,
    trusted: Mapping[str, Ed25519PublicKey],
    identity: Identity | None,
    running: Mapping[str, str],
    limits: BundleLimits = BundleLimits(),
) -> tuple[Manifest, tuple[str, ...]]:
    """Every check but the files': the manifest and the devices it is for; BundleRefused.

    An agent runs these before it fetches a single file."""
    manifest = parse_manifest(open_envelope(envelope, trusted, limits.max_envelope_bytes))
    devices = () if identity is None else targeted_devices(manifest, identity)
    if identity is not None and not devices:
        raise BundleRefused(
            Reason.NOT_FOR_THIS_AGENT,
            f"targets {', '.join(manifest.targets)}; this agent is site {identity.site} "
            f"with {', '.join(identity.devices) or 'no devices'}",
        )
    current = running.get(manifest.name)
    if current is not None and version_key(manifest.version) <= version_key(current):
        raise BundleRefused(
            Reason.NOT_NEWER, f"{manifest.name} {manifest.version}, and {current} is running"
        )
    if manifest.total_bytes > limits.max_total_bytes:
        raise BundleRefused(
            Reason.TOO_LARGE,
            f"{manifest.total_bytes} bytes of files, limit {limits.max_total_bytes}",
        )
    return manifest, devices


def read_bounded(path: Path, max_bytes: int) -> bytes:
    """At most `max_bytes` of a file; BundleRefused when it is larger or cannot be read."""
    try:
        return read_at_most(path, max_bytes)
    except OSError as exc:
        raise BundleRefused(Reason.MALFORMED, f"{path.name}: {exc.strerror or exc}") from exc
    except FileTooLargeError as exc:
        raise BundleRefused(Reason.TOO_LARGE, str(exc)) from exc


def parse_manifest(payload: bytes) -> Manifest:
    """The manifest the envelope signed; BundleRefused (malformed) naming the field."""
    try:
        return Manifest.model_validate(loads_bounded(payload, MANIFEST_DEPTH))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'manifest'}: {e['msg']}" for e in exc.errors()
        )
        raise BundleRefused(Reason.MALFORMED, f"manifest: {problems[:300]}") from exc
    except ValueError as exc:
        raise BundleRefused(Reason.MALFORMED, f"manifest: {str(exc)[:160]}") from exc


def check_file(path: Path, entry: BundleFile) -> None:
    """A listed file is a plain file (not a link) of the declared size and sha256."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise BundleRefused(Reason.MISSING_FILE, f"{entry.path}: {exc.strerror or exc}") from exc
    with os.fdopen(fd, "rb") as f:
        info = os.fstat(f.fileno())
        if not stat.S_ISREG(info.st_mode) or info.st_size != entry.size:
            raise BundleRefused(
                Reason.MISSING_FILE,
                f"{entry.path}: {info.st_size} bytes where the manifest says {entry.size}",
            )
        digest = hashlib.file_digest(f, "sha256")
    if digest.hexdigest() != entry.sha256:
        raise BundleRefused(Reason.WRONG_HASH, f"{entry.path}: sha256 {digest.hexdigest()[:16]}…")


def sha256_of(path: Path) -> str:
    """The file's sha256, read in chunks."""
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
