"""Hostile config files: each is refused fast, with exit code 2 and one line naming the reason.

Bytes that are not UTF-8, nesting a thousand levels deep, an integer of millions of digits,
'billion laughs' aliases, a file of many megabytes, .inf/.nan/1e308 where a duration is meant:
`edge-agent check-config` and `run` refuse them like any other mistake, and a SIGHUP reload
keeps the running config.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from agent.cli import main
from agent.config.loader import ConfigError, load_config
from agent.runtime.agent import Agent
from agent.runtime.reload import reload_on_request
from tests.support.agent_process import thermal_device
from tests.support.tasks import eventually
from tests.support.tasks import running as running_jobs
from tests.test_config import minimal
from tests.test_reload import configs


def billion_laughs() -> str:
    """Nine levels of nine aliases: a few hundred bytes that stand for 9**10 strings."""
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    return "\n".join(lines) + "\n"


HOSTILE: dict[str, tuple[bytes, str]] = {
    "invalid UTF-8": (
        b"site: plant\ndevices:\n  - id: caf\xe9\n",
        "not valid UTF-8: byte 0xe9 at line 3",
    ),
    "UTF-16 with BOM": ("site: plant\n".encode("utf-16"), "UTF-16 byte order mark"),
    "1000-deep flow nesting": (b"site: " + b"[" * 1000 + b"]" * 1000 + b"\n", "nested deeper than"),
    "1000-deep block nesting": (
        "".join("  " * i + f"k{i}:\n" for i in range(1000)).encode() + b"  " * 1000 + b"x\n",
        "nested deeper than",
    ),
    "5,000,000-digit integer": (
        b"site: plant\nbroker:\n  port: " + b"1" * 5_000_000,
        "larger than",
    ),
    "100,000-digit integer": (
        b"site: plant\nbroker:\n  port: " + b"7" * 100_000 + b"\n",
        "line 3, column 9: integer with more than",
    ),
    "billion laughs": (billion_laughs().encode(), "aliases expand the document"),
    "self-containing alias": (b"site: &a [*a]\n", "alias *a refers to a value that contains it"),
    "oversize file": (b"site: plant\n#" + b"x" * (2 * 1024 * 1024) + b"\n", "larger than 1 MiB"),
    "50 MB file": (b"- 1\n" * (50 * 1024 * 1024 // 4), "larger than 1 MiB"),
    "100,000 list items": (b"site: plant\nx:\n" + b"- 1\n" * 100_000, "more than"),
    "impossible date": (b"site: 2001-13-45\n", "line 1, column 7: cannot read '2001-13-45'"),
}


def refused_by_cli(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """check-config exits 2 with the header and exactly one problem line; returns that line."""
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0] == f"invalid config {path}:", err
    assert len(lines) == 2, err
    return lines[1].strip()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_file_is_one_line_and_exit_code_2(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    content, reason = HOSTILE[name]
    path = tmp_path / "agent.yaml"
    path.write_bytes(content)
    started = time.monotonic()
    line = refused_by_cli(path, capsys)
    assert reason in line
    assert time.monotonic() - started < 5, "refusing a hostile file must be quick"


@pytest.mark.timeout(30)
def test_billion_laughs_is_refused_in_under_two_seconds(tmp_path: Path) -> None:
    path = tmp_path / "laughs.yaml"
    path.write_text(billion_laughs())
    assert len(path.read_bytes()) < 600
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert time.monotonic() - started < 2
    [problem] = caught.value.problems
    assert "aliases" in problem


def test_a_few_aliases_are_still_fine(tmp_path: Path) -> None:
    """Anchors and aliases that share a section between devices keep working."""
    model = tmp_path / "det.onnx"
    model.write_bytes(b"not checked here")
    text = f"""
site: plant
devices:
  - id: a
    sources: {{camera: {{uri: "0", detector: &det {{model: {model}, confidence: 0.4}}}}}}
  - id: b
    sources: {{camera: {{uri: "1", detector: *det}}}}
"""
    path = tmp_path / "agent.yaml"
    path.write_text(text)
    config = load_config(path)
    # a device's `sources` fields are built from the sense registry at run time: mypy sees none
    cameras = [d.sources.camera for d in config.devices]  # type: ignore[attr-defined]
    assert [camera.detector.confidence for camera in cameras if camera] == [0.4, 0.4]


@pytest.mark.parametrize(
    ("field", "where"),
    [
        ("devices[0].alarm.min_hold_s", ("devices", 0, "alarm", "min_hold_s")),
        ("inspection.device_timeout_s", ("inspection", "device_timeout_s")),
    ],
)
@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (".inf", "Input should be a finite number"),
        ("-.inf", "Input should be"),
        (".nan", "Input should be a finite number"),
        ("1e308", "Input should be less than or equal to 604800"),
        ("1.0e+308", "Input should be less than or equal to 604800"),
    ],
)
def test_a_duration_must_be_finite_and_bounded(
    field: str,
    where: tuple[str | int, ...],
    value: str,
    reason: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    model = tmp_path / "det.onnx"
    model.write_bytes(b"not checked here")
    data: Any = minimal(model)
    node = data
    for part in where[:-1]:
        node = node.setdefault(part, {}) if isinstance(part, str) else node[part]
    node[where[-1]] = "PLACEHOLDER"
    path = tmp_path / "agent.yaml"
    path.write_text(yaml.safe_dump(data).replace("PLACEHOLDER", value))
    line = refused_by_cli(path, capsys)
    assert line.startswith(f"{field}: {reason}"), line


@pytest.mark.parametrize(
    ("section", "key"),
    [
        (("sources", "infrared"), "fps"),
        (("sources", "infrared", "scorer"), "limit_c"),
        (("sources", "infrared", "calibration"), "a"),
        (("fusion",), "stale_after_s"),
        (("alarm",), "update_interval_s"),
    ],
)
def test_every_duration_rate_and_temperature_refuses_nan(
    section: tuple[str, ...], key: str, tmp_path: Path
) -> None:
    device = copy.deepcopy(thermal_device("pump", tmp_path, None))
    node = device
    for part in section:
        node = node.setdefault(part, {})
    node[key] = float("nan")
    with pytest.raises(ConfigError) as caught:
        configs(tmp_path, [device])
    assert caught.value.problems == [
        f"devices[0].{'.'.join(section)}.{key}: Input should be a finite number"
    ]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["billion laughs", "UTF-16 with BOM", "1000-deep flow nesting"])
async def test_a_reload_with_a_hostile_file_keeps_the_running_config(
    name: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    running = configs(tmp_path, [thermal_device("pump", tmp_path, None)])
    hostile = tmp_path / "agent.yaml"
    hostile.write_bytes(HOSTILE[name][0])
    agent = Agent(running)
    requested = asyncio.Event()
    requested.set()
    started = time.monotonic()
    with contextlib.closing(agent.outbox):
        async with running_jobs(
            reload_on_request(requested, lambda: load_config(hostile), agent.reload)
        ):
            await eventually(lambda: "reload rejected" in caplog.text, 10)
    assert time.monotonic() - started < 5
    assert agent.config is running
    assert [p.device for p in agent.pipelines] == ["pump"]
    [record] = [r for r in caplog.records if "reload rejected" in r.getMessage()]
    assert record.exc_info is None
    problems = record.fields["problems"]  # type: ignore[attr-defined]
    assert len(problems) == 1 and HOSTILE[name][1] in problems[0]
