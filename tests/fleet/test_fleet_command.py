"""`edge-agent fleet keygen|sign|verify` from the command line, as an operator uses them."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from agent.fleet.bundle import FILES_DIR
from tests.support.learned import learned_elsewhere
from tests.support.mqtt import free_port
from tests.support.thermal_frames import frame_with_spot, infrared_source


def agent_config(tmp_path: Path) -> Path:
    config = {
        "site": "plant-a",
        "storage": {"dir": str(tmp_path / "state")},
        "devices": [
            {"id": device, "sources": {"infrared": infrared_source(
                tmp_path / f"ir-{device}", [frame_with_spot(28.0, None)])}}
            for device in ("pump-01", "fan-01")
        ],
    }  # fmt: skip
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_keygen_sign_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    keys = tmp_path / "keys"
    assert main(["fleet", "keygen", "--out", str(keys)]) == 0
    assert stat.S_IMODE((keys / "fleet.key").stat().st_mode) == 0o600
    public = (keys / "fleet.pub").read_text().strip()
    assert public.startswith("ed25519:") and public in capsys.readouterr().out
    assert main(["fleet", "keygen", "--out", str(keys)]) == 2  # never over an existing key
    assert "never overwritten" in capsys.readouterr().err

    (tmp_path / "sound.onnx").write_bytes(b"model" * 50)
    (tmp_path / "fragment.yaml").write_text("devices: []\n")
    sign = ["fleet", "sign", "--key", str(keys / "fleet.key"), "--name", "sound-model",
            "--version", "1.3.0", "--target", "plant-a/pump-*",
            "--model", str(tmp_path / "sound.onnx"), "--config", str(tmp_path / "fragment.yaml"),
            "--out", str(tmp_path / "bundle")]  # fmt: skip
    assert main(sign) == 0
    assert "signed sound-model 1.3.0" in capsys.readouterr().out

    verify = ["fleet", "verify", str(tmp_path / "bundle"), "--trust", str(keys / "fleet.pub")]
    assert main([*verify, "--config", str(agent_config(tmp_path))]) == 0
    out = capsys.readouterr().out
    assert "OK: sound-model 1.3.0 for pump-01" in out and "models/sound.onnx" in out
    assert main([*verify, "--running", "sound-model=1.3"]) == 1
    assert "refused (not_newer)" in capsys.readouterr().out

    (tmp_path / "bundle" / FILES_DIR / "models" / "sound.onnx").write_bytes(b"MODEL" * 50)
    assert main(verify) == 1
    assert "refused (wrong_hash): models/sound.onnx" in capsys.readouterr().out


def test_usage_errors_name_what_is_wrong(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["fleet", "keygen", "--out", str(tmp_path)]) == 0
    key = str(tmp_path / "fleet.key")
    base = ["fleet", "sign", "--key", key, "--name", "m", "--version", "1", "--target", "a/b"]
    assert main([*base, "--out", str(tmp_path / "b")]) == 2
    assert "nothing to sign" in capsys.readouterr().err
    assert (
        main([*base, "--model", str(tmp_path / "absent.onnx"), "--out", str(tmp_path / "b")]) == 2
    )
    assert "absent.onnx: no such file" in capsys.readouterr().err
    (tmp_path / "not-a-key").write_text("hello")
    bad_key = ["fleet", "sign", "--key", str(tmp_path / "not-a-key"), "--name", "m",
               "--version", "1", "--target", "a/b", "--model", key]  # fmt: skip
    assert main([*bad_key, "--out", str(tmp_path / "c")]) == 2
    assert "not a readable unencrypted PEM private key" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base[:-4], "--version", "one", "--target", "a/b", "--out", "x"])
    assert "dotted numbers" in capsys.readouterr().err


def test_a_learned_baseline_goes_in_a_bundle_for_its_device_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    version = learned_elsewhere(tmp_path, "pump-01")[0].source.parent  # a learned version folder
    assert main(["fleet", "keygen", "--out", str(tmp_path / "keys")]) == 0
    base = ["fleet", "sign", "--key", str(tmp_path / "keys" / "fleet.key"), "--name", "normal",
            "--version", "1", "--target", "*/pump-01"]  # fmt: skip
    assert main([*base, "--learned", f"pump-01={version}", "--out", str(tmp_path / "b")]) == 0
    files = sorted(str(p.relative_to(tmp_path / "b" / FILES_DIR))
                   for p in (tmp_path / "b" / FILES_DIR).rglob("*") if p.is_file())  # fmt: skip
    assert files == ["learned/pump-01/card.json", "learned/pump-01/sensor/f.bin"]
    capsys.readouterr()
    assert main([*base, "--learned", f"pump-02={version}", "--out", str(tmp_path / "c")]) == 2
    assert "was learned by 'pump-01'" in capsys.readouterr().err


def test_an_unreachable_broker_is_one_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = yaml.safe_load(agent_config(tmp_path).read_text())
    config["broker"] = {"host": "127.0.0.1", "port": free_port()}  # nothing listens there
    path = tmp_path / "unreachable.yaml"
    path.write_text(yaml.safe_dump(config))
    assert main(["fleet", "status", "--config", str(path), "--wait", "1"]) == 2
    assert "fleet status: broker unreachable" in capsys.readouterr().err
