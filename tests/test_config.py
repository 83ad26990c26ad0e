"""Config validation: every kind of mistake gives one clear message naming the field."""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main
from agent.config.base import overridden
from agent.config.decision import SHIPPED_FUSION
from agent.config.loader import ConfigError, load_config, parse_config
from agent.config.suggest import section_models, unknown_key_message
from agent.inference.models import models_dir

REPO = Path(__file__).resolve().parents[1]


def minimal(model: Path) -> dict[str, Any]:
    """A valid two-device config; tests break one thing at a time."""
    return {
        "site": "plant-a",
        "broker": {
            "host": "127.0.0.1",
            "port": 1883,
            "password": "${TEST_MQTT_PASSWORD:-s3cr3t-pw}",
        },
        "devices": [
            {
                "id": "pump-01",
                "location": {"line": "L1", "zone": "Z1", "position": "P1"},
                "sources": {
                    "camera": {"uri": "0", "detector": {"model": str(model)}},
                },
            },
            {
                "id": "valve-03",
                "sources": {
                    "modbus": {
                        "host": "127.0.0.1",
                        "registers": [
                            {"name": "pressure", "address": 0, "data_type": "float32"},
                            {"name": "current", "address": 2},
                        ],
                    }
                },
            },
        ],
    }


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "det.onnx"
    path.write_bytes(b"not checked here")
    return path


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(data)
    return caught.value.problems


def test_minimal_config_is_valid_with_documented_defaults(model: Path) -> None:
    config = parse_config(minimal(model))
    fusion = config.devices[0].fusion
    assert fusion.weights == {
        "image": 0.4,
        "temperature": 0.3,
        "audio": 0.2,
        "sensor": 0.1,
    }
    assert fusion.threshold == 0.3
    # a device's `sources` fields are built from the sense registry at run time: mypy sees none
    modbus = config.devices[1].sources.modbus  # type: ignore[attr-defined]
    assert modbus is not None
    assert modbus.poll_hz == 10.0
    assert config.broker.password is not None
    assert "s3cr3t-pw" not in repr(config.broker)  # secrets never show in reprs or logs
    assert config.broker.password.get_secret_value() == "s3cr3t-pw"


def test_missing_field_is_named(model: Path) -> None:
    data = minimal(model)
    del data["devices"][1]["sources"]["modbus"]["registers"][1]["address"]
    assert problems(data) == ["devices[1].sources.modbus.registers[1].address: Field required"]


def test_wrong_type_is_named(model: Path) -> None:
    data = minimal(model)
    data["devices"][1]["sources"]["modbus"]["registers"][0]["data_type"] = "float64"
    (problem,) = problems(data)
    assert problem.startswith("devices[1].sources.modbus.registers[0].data_type: Input should be")
    assert "'float32'" in problem


def test_unknown_key_is_named(model: Path) -> None:
    data = minimal(model)
    data["devices"][0]["sources"]["camera"]["fsp"] = 5
    assert problems(data) == ["devices[0].sources.camera.fsp: unknown key (did you mean 'fps'?)"]


def test_an_unknown_key_is_answered_with_the_nearest_allowed_one_or_the_allowed_ones(
    model: Path,
) -> None:
    data = minimal(model)
    data["brokr"] = {"host": "127.0.0.1"}
    data["devices"][1]["sources"]["modbus"]["registers"][0]["adress"] = 3
    data["devices"][0]["learning"] = {"enabled": True, "duraton_s": 60}
    data["mqtt"] = {}
    assert sorted(problems(data)) == [
        "brokr: unknown key (did you mean 'broker'?)",
        "devices[0].learning.duraton_s: unknown key (did you mean 'duration_s'?)",
        "devices[1].sources.modbus.registers[0].adress: unknown key (did you mean 'address'?)",
        "mqtt: unknown key (allowed here: broker, dashboard, devices, fleet, inspection,"
        " metrics, site, storage)",
    ]


def test_a_path_to_a_mapping_of_names_has_no_keys_to_suggest() -> None:
    assert section_models(("devices", 0, "fusion", "weights")) == []
    assert unknown_key_message(("devices", 0, "fusion", "weights", "x", "y")) == (
        "unknown key (not allowed here; check the spelling)"
    )


def test_weights_are_relative_and_an_unknown_sense_is_named(model: Path) -> None:
    data = minimal(model)
    data["devices"][0]["fusion"] = {"weights": {"image": 0.5, "temperature": 0.3}}
    assert parse_config(data).devices[0].fusion.weights == {"image": 0.5, "temperature": 0.3}
    data["devices"][0]["fusion"] = {"weights": {"image": 0.5, "smell": 0.5}}
    assert problems(data) == [
        "devices[0].fusion: weights: no sense named smell"
        " (senses: image, temperature, audio, sensor)"
    ]


def test_learned_fusion_takes_the_shipped_model_unless_one_is_named(
    model: Path, tmp_path: Path
) -> None:
    data = minimal(model)
    data["devices"][0]["fusion"] = {"mode": "learned"}
    assert parse_config(data).devices[0].fusion.model == models_dir() / SHIPPED_FUSION
    data["devices"][0]["fusion"] = {"mode": "learned", "model": str(tmp_path / "none.json")}
    assert problems(data) == [f"devices[0].fusion.model: file not found: {tmp_path / 'none.json'}"]
    data["devices"][0]["fusion"] = {"model": str(model)}
    assert problems(data) == [
        "devices[0].fusion: model is the learned fusion's file: set mode: learned to use it"
    ]
    data["devices"][0]["fusion"] = {"mode": "attention"}
    assert problems(data)[0].startswith("devices[0].fusion.mode: ")


def test_unreadable_model_path_is_named(model: Path) -> None:
    data = minimal(model)
    data["devices"][0]["sources"]["camera"]["detector"]["model"] = "/nonexistent/det.onnx"
    assert problems(data) == [
        "devices[0].sources.camera.detector.model: file not found: /nonexistent/det.onnx"
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read any file")
def test_model_without_read_permission_is_named(model: Path) -> None:
    model.chmod(0)
    assert problems(minimal(model)) == [
        f"devices[0].sources.camera.detector.model: file not readable: {model}"
    ]


def test_a_frame_size_without_pixels_is_named(model: Path) -> None:
    data = minimal(model)
    data["devices"][0]["sources"]["camera"]["frame_size"] = [0, 480]
    (problem,) = problems(data)
    assert (
        problem
        == "devices[0].sources.camera.frame_size[0]: Input should be greater than or equal to 1"
    )


def test_several_mistakes_are_all_reported(model: Path) -> None:
    """Every field's mistake at once (checks across devices, such as duplicate ids, come once
    the fields are right: test_duplicate_devices_rejected)."""
    data = minimal(model)
    data["site"] = "plant a/1"
    data["devices"][1]["sources"]["modbus"]["transport"] = "rtu"
    data["devices"][0]["sources"]["camera"]["fps"] = -1
    found = problems(data)
    assert len(found) == 3
    assert found[0].startswith("site: String should match pattern")
    assert found[1].startswith("devices[0].sources.camera.fps: Input should be greater than")
    assert found[2] == "devices[1].sources.modbus: transport rtu needs serial_port"


def test_duplicate_devices_rejected(model: Path) -> None:
    data = minimal(model)
    data["devices"][1]["id"] = "pump-01"
    assert problems(data) == ["(top level): duplicate device ids: pump-01"]


def test_env_substitution_and_missing_variable(
    model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = minimal(model)
    data["broker"]["username"] = "${TEST_MQTT_USER}"
    monkeypatch.setenv("TEST_MQTT_USER", "inspector")
    assert parse_config(copy.deepcopy(data)).broker.username == "inspector"
    monkeypatch.delenv("TEST_MQTT_USER")
    assert problems(data) == ["environment variable TEST_MQTT_USER is not set"]


def test_relative_paths_resolve_against_config_folder(tmp_path: Path, model: Path) -> None:
    data = minimal(model)
    data["devices"][0]["sources"]["camera"]["detector"]["model"] = "det.onnx"
    data["devices"][0]["sources"]["camera"]["uri"] = "det.onnx"
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    # a device's `sources` fields are built from the sense registry at run time: mypy sees none
    camera = config.devices[0].sources.camera  # type: ignore[attr-defined]
    assert camera is not None
    assert camera.detector.model == tmp_path / "det.onnx"
    assert camera.uri == str(tmp_path / "det.onnx")


def test_check_config_cli(tmp_path: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump(minimal(model)))
    assert main(["check-config", str(good)]) == 0
    assert capsys.readouterr().out.startswith("OK:")

    data = minimal(model)
    data["broker"]["hots"] = "x"
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data))
    assert main(["check-config", str(bad)]) == 2
    assert "broker.hots: unknown key" in capsys.readouterr().err

    assert main(["check-config", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read file" in capsys.readouterr().err

    bad.write_text("site: [unclosed")
    assert main(["check-config", str(bad)]) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_shipped_example_config_is_valid() -> None:
    """Valid as shipped, the models it names included."""
    config = load_config(REPO / "deploy" / "jetson" / "config.example.yaml")
    assert [d.id for d in config.devices] == ["pump-01", "valve-03"]


def test_overrides_replace_given_fields_and_skip_the_options_left_out(model: Path) -> None:
    config = parse_config(minimal(model))
    broker = overridden(config.broker, host="10.0.0.5", port=None, topic_prefix="edge-test")
    assert (broker.host, broker.port, broker.topic_prefix) == ("10.0.0.5", 1883, "edge-test")
    assert broker.password == config.broker.password  # untouched fields stay
    assert overridden(config.broker, host=None, port=None) is config.broker
    nested = overridden(config, metrics=overridden(config.metrics, port=9108))
    assert (nested.metrics.port, config.metrics.port) == (9108, None)
