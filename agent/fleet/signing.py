"""Ed25519 signing keys and signed envelopes.

The envelope is DSSE (Dead Simple Signing Envelope, as in-toto and Sigstore use it): the
payload travels base64-encoded and the signature covers its exact bytes with its type
(`DSSEv1 <len> <type> <len> <payload>`), so nothing is re-encoded before it is verified and a
signature for one kind of payload cannot pass for another. A public key is written
`ed25519:<base64 of its 32 bytes>`; its id is the first 16 hex digits of their sha256.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from agent.fleet.refusal import BundleRefused, Reason
from agent.jsontext import loads_bounded

PAYLOAD_TYPE = "application/vnd.edge-agent.bundle+json"
KEY_PREFIX = "ed25519:"
MAX_SIGNATURES = 8
ENVELOPE_DEPTH = 4


class Signature(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    keyid: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    sig: Annotated[str, Field(max_length=128)]


class Envelope(BaseModel):
    """The envelope's JSON shape."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    payloadType: str  # noqa: N815 (DSSE's field name)
    payload: str
    signatures: Annotated[list[Signature], Field(min_length=1, max_length=MAX_SIGNATURES)]


def new_private_key() -> Ed25519PrivateKey:
    """A fresh signing key."""
    return Ed25519PrivateKey.generate()


def private_key_pem(key: Ed25519PrivateKey) -> bytes:
    """The key as unencrypted PKCS#8 PEM (its file is made readable by its owner only)."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 key in a PEM file; ValueError naming the file when it holds something else."""
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: not a readable unencrypted PEM private key ({exc})") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path}: not an Ed25519 key")
    return key


def public_key_text(key: Ed25519PublicKey) -> str:
    """`ed25519:<base64>`, the form config files and `--trust` take."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return KEY_PREFIX + base64.b64encode(raw).decode()


def parse_public_key(text: str) -> Ed25519PublicKey:
    """The key written `ed25519:<base64>`; ValueError saying what is wrong."""
    text = text.strip()
    if not text.startswith(KEY_PREFIX):
        raise ValueError(f"a public key starts with {KEY_PREFIX!r}")
    try:
        raw = base64.b64decode(text.removeprefix(KEY_PREFIX), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"public key: not base64 ({exc})") from exc
    if len(raw) != 32:
        raise ValueError(f"public key: {len(raw)} bytes, an Ed25519 key has 32")
    return Ed25519PublicKey.from_public_bytes(raw)


def key_id(key: Ed25519PublicKey) -> str:
    """Which key signed: 16 hex digits of the sha256 of its raw bytes."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def trusted_keys(texts: list[str]) -> dict[str, Ed25519PublicKey]:
    """Key id -> key, for the verification of envelopes."""
    keys = [parse_public_key(t) for t in texts]
    return {key_id(k): k for k in keys}


def signed_text(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature covers."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign(payload: bytes, key: Ed25519PrivateKey) -> bytes:
    """The envelope (JSON) carrying `payload` and its signature by `key`."""
    signature = key.sign(signed_text(PAYLOAD_TYPE, payload))
    envelope = Envelope(
        payloadType=PAYLOAD_TYPE,
        payload=base64.b64encode(payload).decode(),
        signatures=[
            Signature(keyid=key_id(key.public_key()), sig=base64.b64encode(signature).decode())
        ],
    )
    return json.dumps(envelope.model_dump(), indent=2).encode() + b"\n"


def open_envelope(raw: bytes, trusted: Mapping[str, Ed25519PublicKey], max_bytes: int) -> bytes:
    """The payload of an envelope one of the `trusted` keys signed; BundleRefused otherwise."""
    if len(raw) > max_bytes:
        raise BundleRefused(Reason.TOO_LARGE, f"envelope of {len(raw)} bytes, limit {max_bytes}")
    try:
        envelope = Envelope.model_validate(loads_bounded(raw, ENVELOPE_DEPTH))
        payload = base64.b64decode(envelope.payload, validate=True)
    except (ValueError, ValidationError, binascii.Error) as exc:
        raise BundleRefused(
            Reason.MALFORMED, f"not a signed envelope ({_first_line(exc)})"
        ) from exc
    if envelope.payloadType != PAYLOAD_TYPE:
        raise BundleRefused(Reason.MALFORMED, f"payload type {envelope.payloadType[:80]!r}")
    known = [s for s in envelope.signatures if s.keyid in trusted]
    if not known:
        ids = ", ".join(s.keyid for s in envelope.signatures)
        raise BundleRefused(Reason.UNKNOWN_KEY, f"signed by {ids}, none of them trusted here")
    text = signed_text(envelope.payloadType, payload)
    for signature in known:
        try:
            trusted[signature.keyid].verify(base64.b64decode(signature.sig, validate=True), text)
        except (InvalidSignature, binascii.Error, ValueError):
            continue
        return payload
    raise BundleRefused(Reason.BAD_SIGNATURE, f"the signature by {known[0].keyid} does not verify")


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
