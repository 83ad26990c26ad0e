"""`edge-agent --help`: the first screen says what the agent does and where to start."""

from __future__ import annotations

import pytest

from agent.cli import build_parser


def test_help_says_what_the_agent_does(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for words in ("camera", "infrared camera", "microphone", "Modbus", "one decision per device",
                  "alarms over MQTT", "edge-agent demo", "edge-agent run --config FILE",
                  "--log-format"):  # fmt: skip
        assert words in text
    assert "hand over to the package" not in text


@pytest.mark.parametrize("command", ["run", "check-config", "demo", "dashboard", "evaluate"])
def test_each_command_says_what_it_does(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args([command, "--help"])
    description = capsys.readouterr().out.split("\n\n")[1]
    assert description[0].isupper() and description.rstrip().endswith(".")
