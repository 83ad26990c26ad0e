"""The evidence section of the storage config: defaults, its folder, and named mistakes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent.config.loader import ConfigError, parse_config


def config(tmp_path: Path, **evidence: Any) -> dict[str, Any]:
    return {
        "site": "plant",
        "storage": {"dir": str(tmp_path / "state"), "evidence": evidence},
        "devices": [
            {
                "id": "pump-01",
                "sources": {"modbus": {"port": 502, "registers": [{"name": "p", "address": 0}]}},
            }
        ],
    }


def test_defaults_keep_a_week_under_the_storage_folder(tmp_path: Path) -> None:
    storage = parse_config(config(tmp_path)).storage
    assert storage.evidence.enabled
    assert storage.evidence_dir() == tmp_path / "state" / "evidence"
    assert storage.evidence.retention_s == 7 * 86_400
    assert storage.evidence.snapshot_interval_s == 5.0


def test_own_folder_and_cap_in_bytes(tmp_path: Path) -> None:
    storage = parse_config(config(tmp_path, dir=str(tmp_path / "ev"), max_mb=1.5)).storage
    assert storage.evidence_dir() == tmp_path / "ev"
    assert storage.evidence.max_bytes == 1_572_864


@pytest.mark.parametrize(
    ("evidence", "message"),
    [
        ({"max_mb": 0}, "storage.evidence.max_mb: "),
        ({"retention_days": -1}, "storage.evidence.retention_days: "),
        ({"snapshot_interval_s": -5}, "storage.evidence.snapshot_interval_s: "),
        ({"max_size": 10}, "storage.evidence.max_size: "),
    ],
)
def test_mistakes_name_the_field(tmp_path: Path, evidence: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as error:
        parse_config(config(tmp_path, **evidence))
    assert message in error.value.report()
