"""Load the YAML config: substitute ${ENV}, validate, and turn errors into one line per field.

Reading is bounded, so no file can hang or exhaust the agent (at start or on SIGHUP): at most
MAX_FILE_BYTES of strict UTF-8; nesting at most MAX_DEPTH levels; aliases used at most
MAX_ALIASES times and the document, aliases expanded, at most MAX_NODES values; integers
within Python's digit limit. Each refusal is a ConfigError naming the reason and the line.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from agent.boundedfile import FileTooLargeError, read_at_most
from agent.config.device import AgentConfig
from agent.config.suggest import unknown_key_message

_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")

MAX_FILE_BYTES = 1024 * 1024  # 1 MiB: a large site's config is a few tens of kB
MAX_DEPTH = 64  # mappings and lists inside each other; a config needs fewer than 10
MAX_ALIASES = 1_000  # uses of `*name`
MAX_NODES = 20_000  # values once every alias is expanded; a 100-device config has ~5,000

_BOMS = {
    b"\xff\xfe\x00\x00": "UTF-32",
    b"\x00\x00\xfe\xff": "UTF-32",
    b"\xff\xfe": "UTF-16",
    b"\xfe\xff": "UTF-16",
}


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


class _Budget:
    """How many more values `substitute_env` may visit: a bound for documents built in code."""

    def __init__(self, nodes: int) -> None:
        self.nodes = nodes


def substitute_env(
    value: Any, missing: list[str], depth: int = 0, budget: _Budget | None = None
) -> Any:
    """Replace ${NAME} and ${NAME:-default} in every string; collect names that are unset.

    Raises ValueError past MAX_DEPTH levels or MAX_NODES values (shared or cyclic structures
    count every time they are reached), so a hostile document stops here, early."""
    budget = budget if budget is not None else _Budget(MAX_NODES)
    budget.nodes -= 1
    if budget.nodes < 0:
        raise ValueError(f"more than {MAX_NODES} values (aliases expanded)")
    if depth > MAX_DEPTH:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
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
        return {k: substitute_env(v, missing, depth + 1, budget) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_env(v, missing, depth + 1, budget) for v in value]
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
        message = unknown_key_message(tuple(error["loc"]))
    elif message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    return f"{field_path(loc)}: {message}"


def _is_union_tag(part: int | str) -> bool:
    """Pydantic adds the chosen union member ('CameraConfig', 'str') to the path; hide it."""
    return isinstance(part, str) and (part[:1].isupper() or part in {"str", "int", "float"})


def parse_config(data: Any, source: str = "<config>", base_dir: Path | None = None) -> AgentConfig:
    """Validate an already-parsed YAML document."""
    missing: list[str] = []
    try:
        data = substitute_env(data, missing)
    except ValueError as exc:
        raise ConfigError(source, [f"(top level): {exc}"]) from None
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
    return config_from_bytes(read_config_file(path), str(path), base_dir=path.parent.resolve())


def read_config_file(path: Path) -> bytes:
    """The file's bytes; refused beyond MAX_FILE_BYTES (read no further, even from a pipe)."""
    try:
        return read_at_most(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise ConfigError(str(path), [f"cannot read file: {exc.strerror or exc}"]) from None
    except FileTooLargeError:
        raise ConfigError(
            str(path), [f"file is larger than {_size(MAX_FILE_BYTES)}: not read as a config"]
        ) from None


def config_from_bytes(raw: bytes, source: str, base_dir: Path | None = None) -> AgentConfig:
    """Decode, parse (bounded), substitute and validate the bytes of a config file."""
    return parse_config(parse_yaml(raw, source), source, base_dir=base_dir)


def parse_yaml(raw: bytes, source: str = "<config>") -> Any:
    """The YAML document in `raw`, read as strict UTF-8 within the limits above."""
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(source, [f"file is larger than {_size(MAX_FILE_BYTES)}"])
    text = _decode(raw, source)
    try:
        loader = _BoundedLoader(text)  # checks the characters at once
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise ConfigError(
            source, [f"not valid YAML: line {line}: character #x{exc.character:04x} is not allowed"]
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(source, [f"not valid YAML: {_one_line(exc)}"]) from None
    except RecursionError:  # not expected within MAX_DEPTH; a last guard, never a traceback
        raise ConfigError(source, ["not valid YAML: nested too deeply"]) from None


def _size(n: int) -> str:
    return f"{n // (1024 * 1024)} MiB ({n} bytes)"


def _one_line(exc: yaml.YAMLError) -> str:
    """A YAML error as one line: what went wrong and where (no snippet of the file)."""
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        problem = exc.problem or exc.context or "error"
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        return where + " ".join(problem.split())
    return " ".join(str(exc).split())


def _decode(raw: bytes, source: str) -> str:
    for bom, encoding in _BOMS.items():
        if raw.startswith(bom):
            raise ConfigError(
                source,
                [f"not UTF-8: the file starts with a {encoding} byte order mark; save it as UTF-8"],
            )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise ConfigError(
            source,
            [
                f"not valid UTF-8: byte 0x{raw[exc.start]:02x} at line {line}, column {column} "
                f"(byte offset {exc.start}); the file must be saved as UTF-8"
            ],
        ) from None


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that counts as it composes: depth, alias uses and the expanded size.

    Aliases are resolved to shared nodes, so a few lines can stand for billions of values
    ('billion laughs'); each node's expanded size is known when it is composed and the
    document is refused as soon as it passes MAX_NODES, before anything walks it."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0
        self._total = 0  # values composed so far, aliases expanded
        self._sizes: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"more than {MAX_ALIASES} aliases (*name) in one file",
                    event.start_mark,
                )
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._sizes:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"alias *{event.anchor} refers to a value that contains it",
                    event.start_mark,
                )
            node = super().compose_node(parent, index)
            self._count(self._sizes.get(id(node), 1), event.start_mark)
            return node
        self._count(1, self.peek_event().start_mark)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels", mark
                )
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        self._sizes[id(node)] = 1 + sum(self._sizes.get(id(c), 1) for c in _children(node))
        return node

    def _count(self, values: int, mark: yaml.Mark) -> None:
        """Refuse as soon as the values composed so far, aliases expanded, pass MAX_NODES."""
        self._total += values
        if self._total > MAX_NODES:
            reason = (
                f"aliases expand the document to more than {MAX_NODES} values"
                if self._aliases
                else f"more than {MAX_NODES} values"
            )
            raise yaml.composer.ComposerError(None, None, reason, mark)

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """A value Python cannot build (a 5,000-digit integer, 2001-13-45) is a YAML error
        at its line, not a traceback."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, OverflowError) as exc:
            kind = node.tag.rsplit(":", 1)[-1]
            if kind == "int" and "digits" in str(exc):
                reason = f"integer with more than {sys.get_int_max_str_digits()} digits"
            else:
                reason = f"cannot read {str(node.value)[:20]!r} as {kind}: {exc}"
            raise yaml.constructor.ConstructorError(None, None, reason, node.start_mark) from None


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []
