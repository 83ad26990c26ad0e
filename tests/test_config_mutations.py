"""Random mutations of a valid config: the loader accepts it or raises ConfigError, nothing else.

An operator's typo, a half-edited file or a wrong type must always come back as the
documented ConfigError with one line per problem, never as a traceback from deep inside.
"""

from __future__ import annotations

import copy
import random
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from agent.config.device import AgentConfig
from agent.config.loader import ConfigError, config_from_bytes, load_config, parse_config
from tests.test_config import minimal

Path_ = tuple[str | int, ...]
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["${NOT_SET_ANYWHERE}", "${X:-0}", "0", "-1", "1e400", "nan", "", "/"])
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=6,
)
OPERATIONS = ("replace", "delete", "add_key", "duplicate")
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def paths(node: Any, prefix: Path_ = ()) -> list[Path_]:
    """Every place in the document a mutation may hit, the root included."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += paths(value, (*prefix, index))
    return out


def mutate(document: Any, where: Path_, operation: str, value: Any) -> Any:
    """Apply one mutation at `where`; returns the (possibly new) document root."""
    if not where:
        return value if operation == "replace" else document
    parent = document
    for part in where[:-1]:
        parent = parent[part]
    last = where[-1]
    target = parent[last]
    if operation == "replace":
        parent[last] = value
    elif operation == "delete":
        del parent[last]
    elif operation == "add_key" and isinstance(target, dict):
        target["unexpected_" + str(value)[:6]] = value
    elif operation == "duplicate" and isinstance(target, list) and target:
        target.append(copy.deepcopy(target[0]))
    return document


@st.composite
def mutated_configs(draw: st.DrawFn, valid: dict[str, Any]) -> Any:
    document: Any = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        places = paths(document)
        where = places[draw(st.integers(0, len(places) - 1))]
        document = mutate(document, where, draw(st.sampled_from(OPERATIONS)), draw(JSON_VALUES))
    return document


@FUZZ
@given(data=st.data())
def test_mutated_config_is_accepted_or_a_config_error(tmp_path: Path, data: st.DataObject) -> None:
    model = tmp_path / "det.onnx"
    model.write_bytes(b"not checked here")
    document = data.draw(mutated_configs(minimal(model)))
    try:
        config = parse_config(document)
    except ConfigError as exc:
        assert exc.problems
        assert all(isinstance(p, str) and p for p in exc.problems), exc.problems
        return
    assert isinstance(config, AgentConfig)


@FUZZ
@given(
    text=st.text(max_size=200) | st.sampled_from(["site: [", "{", "- 1", ":", "a: !!python/none"])
)
def test_any_file_text_is_accepted_or_a_config_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "agent.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        load_config(path)
    except ConfigError as exc:
        assert exc.problems


HOSTILE_SNIPPETS = (
    b"\xff",
    b"\xe9",
    b"\x00",
    b"\xef\xbb\xbf",
    b"&a ",
    b"*a",
    b"<<: *a\n",
    b"[" * 100,
    b"{" * 70,
    b"9" * 5000,
    b" .inf",
    b" .nan",
    b" 1e308",
    b" -1",
    b" 2001-13-45",
    b" !!binary ab",
    b" !!python/none",
    b"\t",
    b"\n- ",
    b": ",
    b"${NOT_SET_ANYWHERE}",
    b"'",
    b'"',
)


def text_mutation(text: bytes, rng: random.Random) -> bytes:
    """One random edit of the file's bytes: a flip, a cut, a copied line or a hostile snippet."""
    at = rng.randrange(len(text) + 1)
    kind = rng.randrange(5)
    if kind == 0 and at < len(text):
        return text[:at] + bytes([rng.randrange(256)]) + text[at + 1 :]
    if kind == 1:
        return text[:at] + text[at + rng.randrange(1, 40) :]
    if kind == 2:
        lines = text.split(b"\n")
        line = lines[rng.randrange(len(lines))]
        lines.insert(rng.randrange(len(lines) + 1), line * rng.choice((1, 1, 2, 9)))
        return b"\n".join(lines)
    return text[:at] + rng.choice(HOSTILE_SNIPPETS) + text[at:]


def test_seeded_mutations_of_the_file_are_accepted_or_a_config_error(tmp_path: Path) -> None:
    """Thousands of edited files, the same ones on every run: never anything but ConfigError."""
    model = tmp_path / "det.onnx"
    model.write_bytes(b"not checked here")
    document = minimal(model)
    document["devices"][1]["sources"]["modbus"]["registers"][0]["scale"] = 0.5
    document["devices"][0]["alarm"] = {"min_hold_s": 10, "update_interval_s": 5}
    document["inspection"] = {"interval_s": 60, "device_timeout_s": 5}
    valid = yaml.safe_dump(document, sort_keys=False).encode()
    rng = random.Random(20240601)
    outcomes = {"accepted": 0, "refused": 0}
    started = time.monotonic()
    for _ in range(3000):
        text = valid
        for _ in range(rng.choice((1, 1, 2, 3))):
            text = text_mutation(text, rng)
        try:
            config_from_bytes(text, "fuzz", base_dir=tmp_path)
        except ConfigError as exc:
            assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
            assert all("\n" not in p for p in exc.problems), exc.problems
            outcomes["refused"] += 1
        else:
            outcomes["accepted"] += 1
    assert outcomes["accepted"] > 100 and outcomes["refused"] > 1000, outcomes
    assert time.monotonic() - started < 60  # ~5 s on a laptop core
