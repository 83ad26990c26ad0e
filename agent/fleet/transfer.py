"""Bundles over MQTT: the signed envelope retained on `<prefix>/fleet/<name>/bundle`, each file
in retained QoS 1 chunks of CHUNK_BYTES on `<prefix>/fleet/<name>/<version>/file/<n>/<chunk>`,
or served over HTTP(S) at the manifest's `url` (only the envelope goes over MQTT then).

`edge-agent fleet push` publishes the chunks first and the envelope last, so an agent that
sees the envelope finds every chunk there. An agent checks the envelope, then fetches the
chunks of that version only, on a connection of its own, into its staging folder; a chunk of
another length than its file's size implies is dropped, and the bundle is refused when not
every chunk came within `fleet.fetch_timeout_s`.
"""

from __future__ import annotations

import asyncio
import math
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path

import aiomqtt

from agent.fleet.bundle import ENVELOPE_FILE, FILES_DIR
from agent.fleet.manifest import Manifest
from agent.fleet.refusal import BundleRefused, Reason

CHUNK_BYTES = 256 * 1024


def bundle_topic(prefix: str, name: str) -> str:
    """Where a bundle's envelope is retained."""
    return f"{prefix}/fleet/{name}/bundle"


def bundles_topic(prefix: str) -> str:
    """Every bundle's envelope, for an agent to subscribe to."""
    return bundle_topic(prefix, "+")


def bundle_name(prefix: str, topic: str) -> str | None:
    """The bundle name of an envelope's topic; None for any other topic."""
    parts = topic.removeprefix(f"{prefix}/").split("/")
    if not topic.startswith(f"{prefix}/") or len(parts) != 3:
        return None
    return parts[1] if parts[0] == "fleet" and parts[2] == "bundle" else None


def files_topic(prefix: str, name: str, version: str) -> str:
    """Every chunk of one version's files."""
    return f"{prefix}/fleet/{name}/{version}/file/#"


def chunk_topic(prefix: str, name: str, version: str, file_index: int, chunk: int) -> str:
    """One chunk of one file."""
    return f"{prefix}/fleet/{name}/{version}/file/{file_index}/{chunk}"


def chunk_count(size: int) -> int:
    """Chunks of a file of `size` bytes (none for an empty file: an empty retained message
    would delete the retained chunk instead)."""
    return math.ceil(size / CHUNK_BYTES)


async def publish_bundle(
    client: aiomqtt.Client, prefix: str, folder: Path, manifest: Manifest
) -> int:
    """Publish a verified bundle, chunks first (none when its files are served over HTTP);
    the number of messages."""
    sent = 0
    for index, entry in enumerate(manifest.files if manifest.url is None else []):
        data = (folder / FILES_DIR / entry.path).read_bytes()
        for chunk in range(chunk_count(entry.size)):
            piece = data[chunk * CHUNK_BYTES : (chunk + 1) * CHUNK_BYTES]
            topic = chunk_topic(prefix, manifest.name, manifest.version, index, chunk)
            await client.publish(topic, piece, qos=1, retain=True)
            sent += 1
    envelope = (folder / ENVELOPE_FILE).read_bytes()
    await client.publish(bundle_topic(prefix, manifest.name), envelope, qos=1, retain=True)
    return sent + 1


async def fetch_files(
    connect: Callable[[], aiomqtt.Client],
    prefix: str,
    manifest: Manifest,
    staging: Path,
    timeout_s: float,
) -> None:
    """Every file of the manifest into `staging/files/`; BundleRefused (missing_file) when not
    every chunk arrived in time. The files are checked (size, sha256) by the caller."""
    missing = {
        (index, chunk)
        for index, entry in enumerate(manifest.files)
        for chunk in range(chunk_count(entry.size))
    }
    total = len(missing)
    handles = {}
    base = files_topic(prefix, manifest.name, manifest.version).removesuffix("#")
    try:
        for index, entry in enumerate(manifest.files):
            path = staging / FILES_DIR / entry.path
            path.parent.mkdir(parents=True, exist_ok=True)
            handles[index] = path.open("wb")
            handles[index].truncate(entry.size)
        if not missing:  # empty files only
            return
        async with asyncio.timeout(timeout_s), connect() as client:
            await client.subscribe(files_topic(prefix, manifest.name, manifest.version), qos=1)
            async for message in client.messages:
                place = chunk_place(str(message.topic).removeprefix(base), manifest)
                if place is None:
                    continue
                index, chunk, length = place
                payload = bytes(message.payload or b"")
                if (index, chunk) not in missing or len(payload) != length:
                    continue
                handles[index].seek(chunk * CHUNK_BYTES)
                handles[index].write(payload)
                missing.discard((index, chunk))
                if not missing:
                    break
    except TimeoutError:
        late = f"{len(missing)} of {total} chunks did not arrive in {timeout_s:g} s"
        raise BundleRefused(Reason.MISSING_FILE, late) from None
    except (aiomqtt.MqttError, OSError) as exc:  # the broker away, the disk full
        failed = f"{len(missing)} of {total} chunks not fetched: {type(exc).__name__}: {exc}"
        raise BundleRefused(Reason.MISSING_FILE, failed[:300]) from exc
    finally:
        for handle in handles.values():
            handle.close()


def chunk_place(rest: str, manifest: Manifest) -> tuple[int, int, int] | None:
    """(file index, chunk, its expected length) of `<n>/<chunk>`; None when it is not one."""
    parts = rest.split("/")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 6 for p in parts):
        return None
    index, chunk = int(parts[0]), int(parts[1])
    if index >= len(manifest.files):
        return None
    size = manifest.files[index].size
    if chunk >= chunk_count(size):
        return None
    return index, chunk, min(CHUNK_BYTES, size - chunk * CHUNK_BYTES)


def download_files(manifest: Manifest, staging: Path, timeout_s: float) -> None:
    """Every file from the manifest's `url` (each at <url>/<path>) into `staging/files/`,
    never more than its declared size (blocking: run it in a thread); BundleRefused
    (missing_file) when one cannot be had in time. The caller checks sizes and hashes."""
    assert manifest.url is not None
    deadline = time.monotonic() + timeout_s
    for entry in manifest.files:
        target = staging / FILES_DIR / entry.path
        target.parent.mkdir(parents=True, exist_ok=True)
        url = f"{manifest.url.rstrip('/')}/{urllib.parse.quote(entry.path)}"
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError(f"not in {timeout_s:g} s")
            with urllib.request.urlopen(url, timeout=left) as response, target.open("wb") as out:
                while chunk := response.read(min(CHUNK_BYTES, entry.size + 1 - out.tell())):
                    out.write(chunk)
                    if out.tell() > entry.size:
                        break  # more than declared: the size check refuses it
        except (OSError, ValueError) as exc:  # URLError and timeouts are OSErrors
            raise BundleRefused(Reason.MISSING_FILE, f"{entry.path}: {url}: {exc}") from exc
