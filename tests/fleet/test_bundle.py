"""Signed bundles: what verifies, and every reason one is refused before anything is used."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from agent.fleet.bundle import (
    ENVELOPE_FILE,
    FILES_DIR,
    BundleLimits,
    Content,
    make_bundle,
    verify_bundle,
)
from agent.fleet.manifest import Identity, version_key
from agent.fleet.refusal import BundleRefused, Reason
from agent.fleet.signing import key_id, parse_public_key, public_key_text, sign, trusted_keys

AGENT = Identity("plant-a", ("pump-01", "pump-02", "fan-01"))
CREATED = datetime(2026, 12, 6, tzinfo=UTC)


@pytest.fixture
def key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def trusted(key: Ed25519PrivateKey) -> dict:
    return trusted_keys([public_key_text(key.public_key())])


def bundle(
    tmp_path: Path,
    key: Ed25519PrivateKey,
    version: str = "1.3.0",
    targets: tuple[str, ...] = ("plant-a/pump-*",),
    name: str = "b",
) -> Path:
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07model bytes" * 100)
    (tmp_path / "fragment.yaml").write_text("devices: []\n")
    folder = tmp_path / name
    make_bundle(
        folder,
        key,
        "sound-model",
        version,
        targets,
        [
            Content("model", tmp_path / "model.onnx", "models/sound.onnx"),
            Content("config", tmp_path / "fragment.yaml", "config.yaml"),
        ],
        created=CREATED,
    )
    return folder


def refusal(folder: Path, trusted: dict, **kwargs: object) -> Reason:
    with pytest.raises(BundleRefused) as caught:
        verify_bundle(
            folder,
            trusted,
            kwargs.get("identity", AGENT),  # type: ignore[arg-type]
            kwargs.get("running", {}),  # type: ignore[arg-type]
            kwargs.get("limits", BundleLimits()),  # type: ignore[arg-type]
        )
    return caught.value.reason


def resign(folder: Path, key: Ed25519PrivateKey, change: dict) -> None:
    """Sign, with a trusted key, a manifest changed by hand (what a careless tool might make)."""
    envelope = json.loads((folder / ENVELOPE_FILE).read_bytes())
    manifest = json.loads(base64.b64decode(envelope["payload"])) | change
    (folder / ENVELOPE_FILE).write_bytes(sign(json.dumps(manifest).encode(), key))


def test_a_signed_bundle_verifies_for_the_devices_its_targets_name(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key, targets=("plant-a/pump-*", "plant-b/*"))
    verified = verify_bundle(folder, trusted, AGENT, {"sound-model": "1.2.9"})
    assert verified.devices == ("pump-01", "pump-02")
    assert [(f.role, f.path) for f in verified.manifest.files] == [
        ("model", "models/sound.onnx"),
        ("config", "config.yaml"),
    ]
    assert (
        verified.file(verified.manifest.files[0]).read_bytes()
        == (tmp_path / "model.onnx").read_bytes()
    )
    assert verify_bundle(folder, trusted, None, {}).devices == ()  # the signer's own check


def test_a_second_trusted_key_and_an_untrusted_one(tmp_path: Path, key: Ed25519PrivateKey) -> None:
    other = Ed25519PrivateKey.generate()
    folder = bundle(tmp_path, key)
    both = trusted_keys([public_key_text(other.public_key()), public_key_text(key.public_key())])
    assert verify_bundle(folder, both, AGENT, {}).manifest.version == "1.3.0"
    only_other = trusted_keys([public_key_text(other.public_key())])
    assert refusal(folder, only_other) == Reason.UNKNOWN_KEY


def test_a_changed_manifest_or_signature_is_a_bad_signature(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key)
    signed = (folder / ENVELOPE_FILE).read_bytes()
    envelope = json.loads(signed)
    manifest = json.loads(base64.b64decode(envelope["payload"]))
    manifest["targets"] = ["*/*"]  # widened after signing
    envelope["payload"] = base64.b64encode(json.dumps(manifest).encode()).decode()
    (folder / ENVELOPE_FILE).write_text(json.dumps(envelope))
    assert refusal(folder, trusted) == Reason.BAD_SIGNATURE

    envelope = json.loads(signed)  # the manifest as signed; only the signature replaced
    forged = Ed25519PrivateKey.generate()  # a signature by another key under the trusted id
    envelope["signatures"][0]["sig"] = base64.b64encode(forged.sign(b"x")).decode()
    (folder / ENVELOPE_FILE).write_text(json.dumps(envelope))
    assert refusal(folder, trusted) == Reason.BAD_SIGNATURE
    (folder / ENVELOPE_FILE).write_bytes(signed)
    assert verify_bundle(folder, trusted, AGENT, {}).manifest.version == "1.3.0"  # untouched


def test_a_bundle_for_other_sites_or_devices_is_not_for_this_agent(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key, targets=("plant-b/*", "plant-a/valve-*"))
    assert refusal(folder, trusted) == Reason.NOT_FOR_THIS_AGENT


@pytest.mark.parametrize("running", ["1.3.0", "1.3", "1.4", "1.10.0"])
def test_the_same_or_an_older_version_is_not_newer(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict, running: str
) -> None:
    folder = bundle(tmp_path, key, version="1.3.0")
    assert refusal(folder, trusted, running={"sound-model": running}) == Reason.NOT_NEWER
    assert verify_bundle(folder, trusted, AGENT, {"other-model": running}).devices


def test_versions_compare_number_by_number() -> None:
    assert version_key("1.10") > version_key("1.9") and version_key("2") == version_key("2.0.0")
    for bad in ("1.x", "v1", "", "1..2", "1.2.3.4.5"):
        with pytest.raises(ValueError, match="dotted numbers"):
            version_key(bad)


def test_files_past_the_limit_or_an_oversized_envelope_are_too_large(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key)
    assert refusal(folder, trusted, limits=BundleLimits(max_total_bytes=1000)) == Reason.TOO_LARGE
    assert refusal(folder, trusted, limits=BundleLimits(max_envelope_bytes=100)) == (
        Reason.TOO_LARGE
    )


def test_a_missing_resized_or_linked_file_is_missing(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key)
    model = folder / FILES_DIR / "models" / "sound.onnx"
    original = model.read_bytes()
    model.write_bytes(original + b"!")
    assert refusal(folder, trusted) == Reason.MISSING_FILE
    model.unlink()
    assert refusal(folder, trusted) == Reason.MISSING_FILE
    (tmp_path / "elsewhere.onnx").write_bytes(original)
    model.symlink_to(tmp_path / "elsewhere.onnx")  # right bytes, but not in the bundle
    assert refusal(folder, trusted) == Reason.MISSING_FILE


def test_a_file_of_the_right_size_with_other_bytes_is_a_wrong_hash(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict
) -> None:
    folder = bundle(tmp_path, key)
    fragment = folder / FILES_DIR / "config.yaml"
    fragment.write_text("devices: {}\n")  # as long as the signed one
    assert refusal(folder, trusted) == Reason.WRONG_HASH


@pytest.mark.parametrize(
    "change",
    [
        {"files": [{"path": "../../etc/passwd", "role": "model", "size": 1, "sha256": "0" * 64}]},
        {"files": [{"path": "/etc/passwd", "role": "model", "size": 1, "sha256": "0" * 64}]},
        {"files": [{"path": ".hidden", "role": "config", "size": 1, "sha256": "0" * 64}]},
        {"targets": ["plant-a"]},
        {"targets": []},
        {"version": "latest"},
        {"format": 2},
        {"extra": True},
    ],
)
def test_a_signed_manifest_that_breaks_the_schema_is_malformed(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict, change: dict
) -> None:
    folder = bundle(tmp_path, key)
    resign(folder, key, change)
    assert refusal(folder, trusted) == Reason.MALFORMED


@pytest.mark.parametrize(
    "envelope",
    [b"", b"not json", b"[" * 100_000, b'{"payloadType": 1}', b"{}", "\u00e9".encode("latin-1")],
)
def test_anything_but_an_envelope_is_malformed(
    tmp_path: Path, key: Ed25519PrivateKey, trusted: dict, envelope: bytes
) -> None:
    folder = bundle(tmp_path, key)
    (folder / ENVELOPE_FILE).write_bytes(envelope)
    assert refusal(folder, trusted) == Reason.MALFORMED  # each is under the 256 KiB limit


def test_a_missing_envelope_is_malformed(tmp_path: Path, trusted: dict) -> None:
    assert refusal(tmp_path, trusted) == Reason.MALFORMED


def test_a_bundle_is_never_made_over_another_or_from_a_bad_manifest(
    tmp_path: Path, key: Ed25519PrivateKey
) -> None:
    folder = bundle(tmp_path, key)
    with pytest.raises(ValueError, match="not empty"):
        bundle(tmp_path, key)
    with pytest.raises(ValueError, match="targets"):
        bundle(tmp_path, key, targets=("no-slash",), name="c")
    assert not (tmp_path / "c").exists() and (folder / ENVELOPE_FILE).is_file()


def test_public_keys_read_back_and_refuse_what_is_not_one(key: Ed25519PrivateKey) -> None:
    text = public_key_text(key.public_key())
    assert key_id(parse_public_key(text)) == key_id(key.public_key())
    for bad, reason in [
        ("rsa:AAAA", "starts with"),
        ("ed25519:%%%", "not base64"),
        ("ed25519:" + base64.b64encode(b"short").decode(), "32"),
    ]:
        with pytest.raises(ValueError, match=reason):
            parse_public_key(bad)
