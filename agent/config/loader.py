"""Load the YAML config: substitute ${ENV}, validate, and turn errors into one line per field."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.config.device import AgentConfig

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


class ConfigError(Exception):
    """A config that cannot be used; `problems` holds one 'field.path: reason' per mistake."""

    def __init__(self, source: str, problems: list[str]) -> None:
        self.source = source
        self.problems = problems
        super().__init__(f"{source}: " + "; ".join(problems))

    def report(self) -> str:
        """Human-readable, one problem per line."""
        lines = [f"invalid config {self.source}:"]
        lines += [f"  {p}" for p in self.problems]
        return "\n".join(lines)


def substitute_env(value: Any, missing: list[str]) -> Any:
    """Replace ${NAME} and ${NAME:-default} in every string; collect names that are unset."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            missing.append(name)
            return ""

        return _ENV_REF.sub(replace, value)
    if isinstance(value, dict):
        return {k: substitute_env(v, missing) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, missing) for v in value]
    return value


def field_path(loc: tuple[int | str, ...]) -> str:
    """('devices', 1, 'sources', 'modbus') -> 'devices[1].sources.modbus'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


def _describe(error: Any) -> str:
    loc = tuple(p for p in error["loc"] if not _is_union_tag(p))
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (not allowed here; check the spelling)"
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{field_path(loc)}: {message}"


def _is_union_tag(part: int | str) -> bool:
    """Pydantic adds the chosen union member ('CameraConfig', 'str') to the path; hide it."""
    return isinstance(part, str) and (part[:1].isupper() or part in {"str", "int", "float"})


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    """Validate an already-parsed YAML document."""
    missing: list[str] = []
    data = substitute_env(data, missing)
    if missing:
        raise ConfigError(source, [f"environment variable {n} is not set" for n in missing])
    if not isinstance(data, dict):
        raise ConfigError(source, ["(top level): expected a mapping of settings"])
    try:
        return AgentConfig.model_validate(data, context={"base_dir": base_dir})
    except ValidationError as exc:
        raise ConfigError(source, [_describe(e) for e in exc.errors()]) from None


def load_config(path: Path) -> AgentConfig:
    """Read, substitute and validate a YAML config file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    return parse_config(data, str(path), base_dir=path.parent.resolve())
