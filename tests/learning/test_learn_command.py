"""`edge-agent learn`: learns from the config's real sources, shows the card, refuses abnormal
data with exit 1 naming why, lists versions and rolls back (the toy sense of tests/toy_sense)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from agent.cli import main
from agent.senses.registry import SENSES
from tests.toy_sense import VIBRATION

HEALTHY = "0.10 0.11 0.12 0.105 0.115 0.095 0.1 0.125"


@pytest.fixture(autouse=True)
def vibration_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SENSES, VIBRATION.name, VIBRATION)


def config_file(tmp_path: Path, levels: str) -> str:
    (tmp_path / "levels").write_text(levels)
    config = {
        "site": "plant",
        "storage": {"dir": str(tmp_path / "state")},
        "devices": [{
            "id": "fan-01",
            "sources": {"accelerometer": {
                "rms": [0.1], "rate_hz": 50, "level_file": str(tmp_path / "levels")}},
        }],
    }  # fmt: skip
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_learn_then_status_then_rollback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, HEALTHY)
    assert main(["learn", "--config", config, "--duration", "1s"]) == 0
    out = capsys.readouterr()
    assert "fan-01: version 1, learned" in out.out and "vibration:" in out.out
    assert re.search(r"vibration: .* alarms alone at >= 0\.9+\d* \(\d+\.\d decades\)", out.out)
    assert "fan-01: learning" in out.err  # progress
    assert main(["learn", "--config", config, "--device", "fan-01", "--duration", "1s"]) == 0
    capsys.readouterr()
    assert main(["learn", "--config", config, "--status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)["devices"]["fan-01"]
    assert (status["version"], status["versions"]) == (2, [1, 2])
    assert status["card"]["senses"]["vibration"]["samples"] >= 30
    assert main(["learn", "--config", config, "--rollback"]) == 0
    assert "version 1 in use" in capsys.readouterr().out
    assert main(["learn", "--config", config, "--rollback"]) == 2
    assert "no earlier learned version" in capsys.readouterr().err


def test_abnormal_data_is_refused_with_exit_1_naming_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_file(tmp_path, "2.0")  # over alarm_rms the whole time
    assert main(["learn", "--config", config, "--duration", "1s"]) == 1
    err = capsys.readouterr().err
    assert "fan-01: not learned" in err and "alarm_rms reached" in err
    assert main(["learn", "--config", config, "--status"]) == 0
    assert "fan-01: nothing learned" in capsys.readouterr().out


def test_an_unknown_device_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = config_file(tmp_path, HEALTHY)
    assert main(["learn", "--config", config, "--device", "ghost", "--status"]) == 2
    assert "no device ghost" in capsys.readouterr().err
