"""The fleet folder (what runs, what was rolled back) and the config an agent runs with its
bundles' fragments laid over its file."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from agent.config.loader import ConfigError
from agent.fleet.bundle import ENVELOPE_FILE, FILES_DIR
from agent.fleet.overlay import load_effective_config
from agent.fleet.store import MAX_STATE_BYTES, BundleStore
from agent.fleet.transfer import CHUNK_BYTES, bundle_name, chunk_count


def config_file(tmp_path: Path) -> Path:
    config = {
        "site": "plant-a",
        "storage": {"dir": str(tmp_path / "state")},
        "devices": [
            {"id": "kiln-01", "sources": {"infrared": {"uri": str(tmp_path / "ir" / "*.png")}}},
            {"id": "kiln-02", "sources": {"infrared": {"uri": str(tmp_path / "ir" / "*.png")}},
             "fusion": {"threshold": 0.5}},
        ],
    }  # fmt: skip
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def keep(store: BundleStore, name: str, version: str, fragment: str | None) -> None:
    """A bundle as the store keeps it after verification."""
    staged = store.staging(name, version)
    (staged / ENVELOPE_FILE).write_text("{}")
    if fragment is not None:
        (staged / FILES_DIR / "config.yaml").write_text(fragment)
    store.install(staged, name, version)


def test_versions_switch_and_roll_back_in_order(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "fleet")
    assert store.running() == {}
    store.activate("tune", "1.0")
    store.activate("tune", "1.1")
    store.activate("model", "2")
    assert store.running() == {"tune": "1.1", "model": "2"}
    assert store.rollback("tune") == "1.0"
    assert store.was_rolled_back("tune", "1.1") and not store.was_rolled_back("tune", "1.0")
    assert store.rollback("tune") is None and store.running() == {"model": "2"}
    with pytest.raises(ValueError, match="no bundle tune"):
        store.rollback("tune")
    assert BundleStore(tmp_path / "fleet").running() == {"model": "2"}  # on disk
    (tmp_path / "fleet" / "state.json").write_text("[" * 10)  # damaged
    assert store.running() == {}
    assert [p.name.split("-")[0] for p in (tmp_path / "fleet").glob("state.json.*")] == [
        "state.json.damaged"
    ]


def test_a_state_file_past_its_bound_is_moved_aside_and_named_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = BundleStore(tmp_path / "fleet")
    store.activate("tune", "1.0")
    (tmp_path / "fleet" / "state.json").write_bytes(b" " * (MAX_STATE_BYTES + 1))
    assert store.running() == {}
    assert len(list((tmp_path / "fleet").glob("state.json.damaged-*"))) == 1
    (record,) = [r for r in caplog.records if r.getMessage().startswith("fleet state damaged")]
    assert record.fields["error"] == f"state.json: over {MAX_STATE_BYTES} bytes"  # type: ignore[attr-defined]


def test_fragments_change_devices_and_name_their_bundle_files(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    store = BundleStore(tmp_path / "state" / "fleet")
    keep(store, "tune", "1", "devices:\n  - id: kiln-02\n    fusion: {threshold: 0.42}\n")
    frames = "devices:\n  - id: kiln-01\n    sources: {infrared: {uri: '${BUNDLE}/f/*.png'}}\n"
    keep(store, "frames", "2", frames)
    keep(store, "plain", "1", None)  # files only
    assert load_effective_config(path).devices[1].fusion.threshold == 0.5  # none in use yet
    store.activate("tune", "1")
    store.activate("frames", "2")
    store.activate("plain", "1")
    config = load_effective_config(path)
    kiln_01, kiln_02 = config.devices
    assert kiln_02.fusion.threshold == 0.42
    # a device's `sources` fields are built from the sense registry at run time: mypy sees none
    infrared_01 = kiln_01.sources.infrared  # type: ignore[attr-defined]
    infrared_02 = kiln_02.sources.infrared  # type: ignore[attr-defined]
    assert infrared_02 is not None and infrared_02.uri.endswith("ir/*.png")
    assert infrared_01 is not None
    assert infrared_01.uri == f"{store.files_dir('frames', '2').resolve()}/f/*.png"
    assert load_effective_config(path, running={}).devices[1].fusion.threshold == 0.5


@pytest.mark.parametrize(
    ("fragment", "problem"),
    [
        ("broker: {host: evil.example}\n", "broker: a bundle may set only devices, inspection"),
        ("devices:\n  - id: pump-99\n    fusion: {threshold: 0.1}\n", "names no device"),
        ("devices:\n  - id: kiln-01\n    fusion: {threshold: 7}\n", "threshold"),
        ("- just a list\n", "a fragment is a mapping"),
    ],
)
def test_a_fragment_that_does_not_apply_is_a_config_error_naming_the_bundle(
    tmp_path: Path, fragment: str, problem: str
) -> None:
    path = config_file(tmp_path)
    store = BundleStore(tmp_path / "state" / "fleet")
    keep(store, "tune", "3", fragment)
    with pytest.raises(ConfigError, match="tune 3") as caught:
        load_effective_config(path, running={"tune": "3"})
    assert problem in caught.value.report()


def test_chunk_topics_and_lengths() -> None:
    assert bundle_name("edge", "edge/fleet/tune/bundle") == "tune"
    for topic in ("edge/plant/tune/bundle", "edge/fleet/tune/1/bundle", "other/fleet/t/bundle"):
        assert bundle_name("edge", topic) is None
    assert [chunk_count(n) for n in (0, 1, CHUNK_BYTES, CHUNK_BYTES + 1)] == [0, 1, 1, 2]


def test_only_the_versions_rollback_can_reach_are_kept(tmp_path: Path) -> None:
    store = BundleStore(tmp_path / "fleet")
    for n in range(1, 8):
        keep(store, "tune", str(n), None)
        store.activate("tune", str(n))
        store.prune("tune")
    kept = sorted(p.name for p in (tmp_path / "fleet" / "bundles" / "tune").iterdir())
    assert kept == ["3", "4", "5", "6", "7"]
    keep(store, "tune", "8", None)
    store.discard("tune", "8")  # refused: never used, nothing kept
    store.discard("tune", "7")  # in use: kept
    assert not store.bundle_dir("tune", "8").exists() and store.bundle_dir("tune", "7").exists()


def test_an_unreadable_fleet_state_runs_the_config_file_alone(tmp_path: Path) -> None:
    path = config_file(tmp_path)
    store = BundleStore(tmp_path / "state" / "fleet")
    keep(store, "tune", "1", "devices:\n  - id: kiln-02\n    fusion: {threshold: 0.42}\n")
    store.activate("tune", "1")
    (store.folder / "state.json").unlink()
    (store.folder / "state.json").mkdir()  # cannot be read as a file
    assert load_effective_config(path).devices[1].fusion.threshold == 0.5
