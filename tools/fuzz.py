#!/usr/bin/env python3
"""Fuzz the agent's untrusted inputs with seeded generators and check what must always hold.

Targets (one generator each, shared with tests/test_fuzz.py, which runs them in CI):

- `agent`: payloads on `<prefix>/<site>/<device>/ack` and `.../learn` into a real `Agent`'s
  message handler;
- `dashboard`: payloads on every topic the dashboard subscribes to (`Topics.every_topic`:
  status, inspection, state, health, alarm, ack, snapshot/<kind>, evidence/<alarm>/<seq>/<kind>)
  and hostile topic names, into `Ingest.handle`;
- `config`: config files into `config_from_bytes`;
- `modbus`: random register maps and replies (random words, NaN and infinity patterns, wrong
  lengths, out-of-range words, exception responses, the wrong PDU type, replies pymodbus
  decoded from random bytes, transport errors) into `ModbusSource._read`, which turns a
  pymodbus reply into values.

Each case starts from a valid input built by the agent's own builders (the payload functions
of agent/core/payload.py, `DeviceHealth`, `InspectionRound`, a valid config) and is mutated
structure-aware (values, types, keys, nesting, sizes, timestamps) or byte-level (bit flips,
truncation, huge numbers, deep nesting, invalid UTF-8, surrogate escapes). What must hold:

- a handler never raises: the agent's and the dashboard's log and count every refusal, once,
  with a documented reason, never `error` (a handler that failed); the config loader raises
  only ConfigError; the Modbus read returns values or raises SourceError;
- the process stays usable: every `PROBE_EVERY` cases a valid message must still be ingested,
  and accepted + refused + ignored messages add up to the cases sent;
- nothing the agent or the dashboard would publish or serve holds NaN, infinity or text that
  is not UTF-8 (Modbus values are finite; the dashboard's API renders), and the dashboard's
  history holds no time from the future (it would hold back a chart and never age out);
- no case takes longer than `CASE_LIMIT_S`.

    tools/fuzz.py --cases 100000 --target all [--seed 1]

prints a JSON summary (cases, failures, seconds, per target) and exits 1 on any failure.
`--cases` is the total, split evenly between the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import copy
import datetime
import itertools
import json
import logging
import math
import random
import struct
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TARGETS = ("agent", "dashboard", "config", "modbus")
CASE_LIMIT_S = 2.0  # generous: every case takes well under 10 ms
PROBE_EVERY = 50  # cases between checks that a valid message is still taken
MAX_EXAMPLES = 10  # failures kept per target in the summary
PREFIX, SITE = "edge", "plant"

Doc = Any  # a JSON-like value


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class Result:
    """One target's run: cases, outcome counts, failures (the first few kept in full)."""

    target: str
    cases: int = 0
    failures: int = 0
    seconds: float = 0.0
    max_case_ms: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    examples: list[dict[str, Any]] = field(default_factory=list)

    def fail(self, case: int, problem: str, data: object) -> None:
        self.failures += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append({"case": case, "problem": problem[:300], "input": short(data)})

    def summary(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "failures": self.failures,
            "seconds": round(self.seconds, 2),
            "max_case_ms": round(self.max_case_ms, 2),
            "outcomes": dict(sorted(self.outcomes.items())),
            "examples": self.examples,
        }


def short(data: object, limit: int = 300) -> str:
    text = repr(data)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"


@contextmanager
def timed_case(result: Result, case: int, data: object) -> Iterator[None]:
    started = time.perf_counter()
    yield
    elapsed = time.perf_counter() - started
    result.cases += 1
    result.max_case_ms = max(result.max_case_ms, elapsed * 1000.0)
    if elapsed > CASE_LIMIT_S:
        result.fail(case, f"took {elapsed:.2f} s (limit {CASE_LIMIT_S} s)", data)


LAST_DETAIL: list[str] = [""]  # the detail of the latest refusal logged


@contextmanager
def quiet_logs() -> Iterator[None]:
    """The agent's refusal warnings, formatted by its own JSON formatter, to nowhere."""
    from agent.observe.logs import JsonLineFormatter

    class Formatting(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            self.format(record)  # a field that cannot be formatted fails here, loudly
            LAST_DETAIL[0] = str(getattr(record, "fields", {}).get("detail", ""))

        def handleError(self, record: logging.LogRecord) -> None:  # noqa: N802
            raise  # re-raise what emit raised, inside logging's own except

    handler = Formatting()
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("agent")
    saved = (logger.handlers[:], logger.propagate, logger.level)
    logger.handlers, logger.propagate = [handler], False
    logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        logger.handlers, logger.propagate = saved[0], saved[1]
        logger.setLevel(saved[2])


# ---------------------------------------------------------------------------------------------
# Mutations


SPECIAL_STRINGS = [
    "", " ", "x", "3", "0.5", "-1", "nan", "NaN", "Infinity", "null", "true", "raised",
    "cleared", "updated", "ok", "alarm", "degraded", "failed", "critical:sensor", "critical:",
    "\ud800", "a\udfffb", "\x00", "\u202e", "é" * 70, "x" * 129, "x" * 2001, "+", "#", "/",
    "2026-11-23T10:00:00.000Z", "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-14:00",
    "0001-01-01", "2026-13-45", "Z", "${HOME}", "${NOT_SET_ANYWHERE}", "image", "thermal",
]  # fmt: skip
SPECIAL_NUMBERS = [
    0, 1, -1, 2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 10**30,
    0.0, -0.0, 0.5, 1.5, -1e-300, 5e-324, 1.7976931348623157e308, -1.7976931348623157e308,
    3.4e38, 1e300, math.nan, math.inf, -math.inf,
]  # fmt: skip
TIMESTAMPS = [
    "9999-12-31T23:59:59-14:00", "9999-12-31T00:00:00Z", "2100-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00", "0001-01-01", "1970-01-01T00:00:00Z", "2026-11-23T10:00:00",
    "2026-02-30T00:00:00Z", "2026-11-23T10:00:00.000+25:00", "yesterday", "", 0, -1, None,
]  # fmt: skip
BYTE_SNIPPETS = [
    b"[" * 40, b"{" * 40, b'{"a":' * 40, b"]" * 5, b"}", b"NaN", b"-Infinity", b"Infinity",
    b"1e999", b"-1e999", b"9" * 5000, b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\x80", b"\x00",
    b'"', b"\\", b"\\ud800", b"\\udc00", b'"\\u', b",", b":", b"\xef\xbb\xbf", b"null", b"[]",
]  # fmt: skip


def random_text(rng: random.Random, surrogates: bool = True) -> str:
    """Random text; `surrogates=False` for a topic, which MQTT delivers as valid UTF-8 only."""
    size = rng.choice((1, 2, 8, 40, 130))
    alphabets = [
        lambda: chr(rng.randint(32, 126)),
        lambda: chr(rng.choice((rng.randint(0, 0xD7FF), rng.randint(0xE000, 0x10FFFF)))),
        lambda: rng.choice('/+#\x00\n"\\{}[]:é€😀'),
    ]
    if surrogates:
        alphabets.append(lambda: chr(rng.randint(0xD800, 0xDFFF)))
    pick = rng.choice(alphabets)
    return "".join(pick() for _ in range(size))


def random_float(rng: random.Random) -> float:
    return float(struct.unpack(">d", rng.getrandbits(64).to_bytes(8, "big"))[0])


def nested(rng: random.Random, depth: int) -> Doc:
    value: Doc = rng.choice([1, "x", None, []])
    for _ in range(depth):
        value = [value] if rng.random() < 0.5 else {"k": value}
    return value


def hostile_value(rng: random.Random) -> Doc:
    roll = rng.random()
    if roll < 0.25:
        return rng.choice(SPECIAL_STRINGS)
    if roll < 0.45:
        return rng.choice(SPECIAL_NUMBERS)
    if roll < 0.55:
        return random_text(rng)
    if roll < 0.62:
        return random_float(rng)
    if roll < 0.67:
        return rng.getrandbits(rng.choice((8, 64, 70, 200))) * rng.choice((1, -1))
    if roll < 0.75:
        return rng.choice([None, True, False, [], {}, [1, 2], {"a": 1}, {"score": "1"}])
    if roll < 0.82:
        return nested(rng, rng.choice((2, 10, 31, 33, 60)))
    if roll < 0.88:
        return {f"k{i}": rng.choice([0.5, None, {}, "x"]) for i in range(rng.choice((65, 200)))}
    if roll < 0.93:
        return [rng.choice([0.5, None, {}, "x"]) for _ in range(rng.choice((65, 1000)))]
    return {"score": rng.choice(SPECIAL_NUMBERS), "weight": rng.choice(SPECIAL_NUMBERS),
            "stale": rng.choice([True, None, "no", 0])}  # fmt: skip


def places(doc: Doc, path: tuple[Any, ...] = (), depth: int = 0) -> list[tuple[Any, ...]]:
    """Every path into the document, the root included (bounded: deep values are leaves)."""
    out = [path]
    if depth > 8:
        return out
    if isinstance(doc, dict):
        for key, value in doc.items():
            out += places(value, (*path, key), depth + 1)
    elif isinstance(doc, list):
        for index, value in enumerate(doc[:20]):
            out += places(value, (*path, index), depth + 1)
    return out


def mutate_doc(rng: random.Random, doc: Doc, pool: list[Doc]) -> Doc:
    """One to four structure-aware mutations of a copy of `doc`."""
    doc = copy.deepcopy(doc)
    for _ in range(rng.randint(1, 4)):
        where = rng.choice(places(doc))
        op = rng.choice(("replace", "replace", "replace", "delete", "add", "wrap", "grow",
                         "graft", "retype", "retime"))  # fmt: skip
        if op == "retime":  # a timestamp (`*_at`, `since`) from the future, the past, nowhere
            times = [p for p in places(doc) if p and str(p[-1]).endswith(("_at", "since"))]
            where = rng.choice(times) if times else where
        if not where:
            if op == "retype":
                doc = rng.choice([[doc], json.dumps(doc)[:50], 1, None, []])
            elif op == "wrap":
                doc = {"payload": doc}
            elif isinstance(doc, dict) and op == "add":
                doc[random_text(rng) if rng.random() < 0.5 else "extra"] = hostile_value(rng)
            continue
        parent = doc
        for part in where[:-1]:
            parent = parent[part]
        last = where[-1]
        target = parent[last]
        if op == "delete":
            del parent[last]
        elif op == "add" and isinstance(target, dict):
            target[rng.choice(("extra", "score", "id", random_text(rng)))] = hostile_value(rng)
        elif op == "wrap":
            parent[last] = [target] if rng.random() < 0.5 else {"value": target}
        elif op == "grow" and isinstance(target, str):
            parent[last] = target * rng.choice((2, 100, 3000)) + "x"
        elif op == "graft" and pool:  # a value from another topic's payload
            parent[last] = copy.deepcopy(rng.choice(pool))
        elif op == "retype":
            parent[last] = str(target) if not isinstance(target, str) else rng.choice([1, [], {}])
        elif op == "retime":
            parent[last] = rng.choice(TIMESTAMPS)
        else:
            parent[last] = hostile_value(rng)
    return doc


def serialise(rng: random.Random, doc: Doc) -> bytes:
    """JSON as a careless or hostile publisher might write it (NaN, unpaired surrogates)."""
    text = json.dumps(doc, allow_nan=True, ensure_ascii=rng.random() < 0.7)
    return text.encode("utf-8", "surrogatepass")  # ensure_ascii=False: CESU-8, not UTF-8


def mutate_bytes(rng: random.Random, data: bytes, heavy: bool = True) -> bytes:
    """One to three byte-level mutations; `heavy` adds documents of 20,000 values."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.choice(("flip", "truncate", "insert", "insert", "splice", "replace"))
        if op == "flip" and out:
            for _ in range(rng.randint(1, 8)):
                at = rng.randrange(len(out))
                out[at] ^= 1 << rng.randrange(8)
        elif op == "truncate" and out:
            del out[rng.randrange(len(out)) :]
        elif op == "insert":
            at = rng.randint(0, len(out))
            out[at:at] = rng.choice(BYTE_SNIPPETS)
        elif op == "splice" and out:
            at = rng.randrange(len(out))
            out[at:at] = out[: rng.randint(0, min(len(out), 200))]
        elif op == "replace":
            out[:] = rng.choice((
                rng.randbytes(rng.randint(0, 64)),
                b"[" * rng.choice((33, 1000, 60_000)),
                b'{"id":' * 100 + b"1" + b"}" * 100,
                b'{"id":"a","id":{}}',
                b"[" + b"1," * (20_000 if heavy else 500) + b"1]",
                b'"' + b"\\ud800" * 10 + b'"',
            ))  # fmt: skip
    return bytes(out)


def hostile_payload(rng: random.Random, valid: list[Doc]) -> tuple[str, bytes]:
    """A payload grown from a valid one: (how it was made, bytes)."""
    base = rng.choice(valid)
    roll = rng.random()
    if roll < 0.15:
        return "valid", serialise(rng, base)
    if roll < 0.65:
        return "structure", serialise(rng, mutate_doc(rng, base, valid))
    if roll < 0.97:
        return "bytes", mutate_bytes(rng, serialise(rng, base))
    return "oversize", b'{"id":"' + b"x" * rng.choice((70_000, 300_000)) + b'"}'


# ---------------------------------------------------------------------------------------------
# Valid payloads, from the agent's own builders


def valid_payloads(rng: random.Random) -> dict[str, list[Doc]]:
    """A few valid payloads per topic kind, built as the agent builds them."""
    with quiet_logs():  # DeviceHealth logs each change
        return _valid_payloads(rng)


def _valid_payloads(rng: random.Random) -> dict[str, list[Doc]]:
    from agent.config.decision import AlarmConfig, FusionConfig, LocationConfig
    from agent.core.alarms import AlarmTracker
    from agent.core.fusion import fuse
    from agent.core.payload import alarm_payload, iso, state_payload
    from agent.core.samples import Score
    from agent.runtime.health import DeviceHealth
    from agent.runtime.inspection import InspectionRecord, InspectionRound
    from agent.senses.registry import SENSES, default_weights, readings

    now = 1_764_000_000.0
    senses = list(SENSES)
    out: dict[str, list[Doc]] = {"state": [], "alarm": [], "health": [], "ack": [],
                                 "inspection": []}  # fmt: skip
    sequence = itertools.count(1)
    for index in range(12):
        device = f"dev-{index}"
        scores = {}
        for sense in rng.sample(senses, rng.randint(1, len(senses))):
            value = rng.random()
            evidence: dict[str, Any] = {}
            if sense == "temperature":
                evidence = {"max_c": rng.uniform(20, 200), "mean_c": 30.0}
            elif sense == "sensor":
                evidence = {"values": {"pressure": rng.uniform(0, 10), "current": 3.0}}
            scores[sense] = Score(device, sense, value, "label", evidence, now, now, "m@1")
        decision = fuse(device, scores, FusionConfig(weights=default_weights()), senses, now)
        tracker = AlarmTracker(device, AlarmConfig(), sequence)
        transition = tracker.update(decision, now)
        alarm_id = transition.alarm.id if transition else None
        health = DeviceHealth(device, {s: "m@1" for s in scores}, clock=lambda: now)
        for sense in scores:
            health.set_source(sense, rng.choice(("ok", "failed", "starting")), "why")
        out["state"].append(state_payload(decision, alarm_id, health.summary(), readings(scores)))
        out["health"].append(health.payload())
        if transition is not None:
            out["alarm"].append(alarm_payload(transition, SITE, LocationConfig(line="L1")))
        out["ack"].append({"id": alarm_id or f"alarm-{index}", "by": "ana", "at": iso(now),
                           "note": "checked"})  # fmt: skip
        record = InspectionRecord(device, iso(now), 1.5, "ok", decision.score, [])
        out["inspection"].append(InspectionRound(index, now, 12, [record], now + 2).summary())
    if not out["alarm"]:  # scores are random: make sure there is one raised event
        scores = {"image": Score("dev-a", "image", 1.0, "crack", {}, now, now, "m@1")}
        decision = fuse("dev-a", scores, FusionConfig(weights=default_weights()), ["image"], now)
        transition = AlarmTracker("dev-a", AlarmConfig(), sequence).update(decision, now)
        assert transition is not None
        out["alarm"].append(alarm_payload(transition, SITE, LocationConfig()))
    return out


# ---------------------------------------------------------------------------------------------
# agent: acks and learn requests


def reject_counter() -> Any:
    """An observer of the agent's refusals (edge_agent_rejected_messages_total)."""
    from agent.observe.stages import Observer

    class RejectCounter(Observer):
        def __init__(self) -> None:
            self.counts: Counter[tuple[str, str]] = Counter()

        def on_rejected(self, topic_kind: str, reason: str) -> None:
            self.counts[(topic_kind, reason)] += 1

    return RejectCounter()


AGENT_REASONS = {  # by topic kind
    "ack": {"too_large", "too_deep", "not_json", "invalid", "unknown_alarm"},
    "learn": {"too_large", "too_deep", "not_json", "invalid", "unknown_device", "refused"},
}
DASHBOARD_REASONS = {"too_large", "too_deep", "not_json", "invalid", "too_many"}


def agent_config(state_dir: Path) -> Any:
    from agent.config.loader import parse_config

    return parse_config({
        "site": SITE,
        "broker": {"host": "127.0.0.1", "port": 1, "topic_prefix": PREFIX},
        "inspection": {"enabled": False},
        "storage": {"dir": str(state_dir), "evidence": {"enabled": False}},
        "devices": [{"id": "pump-01", "sources": {"modbus": {
            "registers": [{"name": "pressure", "address": 0, "high": 10}]}}}],
    })  # fmt: skip


def fuzz_agent(cases: int, seed: int) -> Result:
    """Hostile acks and learn requests into a real Agent's message handler."""
    from agent.observe import stages as observe
    from agent.runtime.agent import Agent

    rng = random.Random(seed)
    result = Result("agent")
    known = [f"alarm-{i}" for i in range(5)]
    valid: dict[str, list[Any]] = {
        "ack": [{**ack, "id": rng.choice(known)} for ack in valid_payloads(rng)["ack"]],
        "learn": [
            {},
            {"by": "maintenance", "note": "bearing replaced", "duration_s": 3600},
            {"action": "rollback", "by": "maintenance", "note": "learned the fault"},
        ],
    }
    counter = reject_counter()
    with ExitStack() as stack:
        state = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fuzz-agent-")))
        stack.enter_context(quiet_logs())
        stack.enter_context(observe.subscribed(counter))
        agent = Agent(agent_config(state))
        stack.callback(agent.outbox.close)
        for alarm_id in known:
            agent.acks.seen(alarm_id, "pump-01")  # as AlarmWatch does for each event going out
        accepted = errors = 0
        for case in range(cases):
            device = rng.choice(("pump-01", "other", random_text(rng, surrogates=False)))
            kind = rng.choice(("ack", "learn"))
            topic = f"{PREFIX}/{SITE}/{device}/{kind}"
            how, payload = hostile_payload(rng, valid[kind])
            before = sum(counter.counts.values())
            with timed_case(result, case, payload):
                try:
                    agent._on_message(topic, payload)
                except Exception as exc:  # the property: never
                    result.fail(case, f"handler raised {type(exc).__name__}: {exc}", payload)
                    continue
            refused = sum(counter.counts.values()) - before
            if sum(n for (_, reason), n in counter.counts.items() if reason == "error") > errors:
                errors += 1
                result.fail(case, f"the handler failed: {LAST_DETAIL[0]}", payload)
            if refused == 0:
                accepted += 1
                result.outcomes["accepted"] += 1
            elif refused != 1:
                result.fail(case, f"counted {refused} refusals for one message", payload)
            result.outcomes[how] += 1
            if set(agent.acknowledged) - set(known):
                result.fail(case, "an acknowledgement of an unknown alarm was stored", payload)
            if case % PROBE_EVERY == PROBE_EVERY - 1:
                alarm_id, by = rng.choice(known), f"probe-{case}"
                agent._on_message(f"{PREFIX}/{SITE}/pump-01/ack",
                                  json.dumps({"id": alarm_id, "by": by}).encode())  # fmt: skip
                accepted += 1
                if agent.acknowledged.get(alarm_id, {}).get("by") != by:
                    result.fail(case, "a valid ack after hostile ones was not accepted", by)
        for (kind, reason), count in counter.counts.items():
            result.outcomes[f"refused:{reason}"] += count
            if reason not in AGENT_REASONS.get(kind, set()):
                result.fail(-1, f"{count} refusals as {kind}/{reason} (a handler failed)", "")
        refused_total = sum(counter.counts.values())
        probes = cases // PROBE_EVERY
        if accepted + refused_total != cases + probes:
            result.fail(-1, f"{accepted} accepted + {refused_total} refused != "
                        f"{cases + probes} messages", "")  # fmt: skip
    return result


# ---------------------------------------------------------------------------------------------
# dashboard


def dashboard_topic(rng: random.Random, kind: str) -> str:
    device = rng.choice(("pump-01", "valve-03", "dev-1")) if rng.random() < 0.9 else "+"
    alarm = rng.choice(("a1", "a2", random_text(rng, surrogates=False), "x" * 200))
    seq = rng.choice(("1", "42", "9223372036854775807", "9999999999999999999", "+"))
    part = rng.choice(
        ("image", "thermal", "audio", "sensor", "video", random_text(rng, surrogates=False))
    )
    return {
        "status": f"{PREFIX}/{SITE}/status",
        "inspection": f"{PREFIX}/{SITE}/inspection",
        "snapshot": f"{PREFIX}/{SITE}/{device}/snapshot/{part}",
        "evidence": f"{PREFIX}/{SITE}/{device}/evidence/{alarm}/{seq}/{part}",
    }.get(kind, f"{PREFIX}/{SITE}/{device}/{kind}")


def hostile_topic(rng: random.Random) -> str:
    return rng.choice((
        f"{PREFIX}/{SITE}",
        f"{PREFIX}/{SITE}/pump/unknown",
        f"{PREFIX}/{SITE}/pump/evidence/a/1",
        f"{PREFIX}//state",
        f"{PREFIX}/{random_text(rng, surrogates=False)}/{random_text(rng, surrogates=False)}/state",
        f"{PREFIX}/{SITE}/pump/evidence/a/{'1' * 25}/image",
        f"other/{SITE}/pump/state",
        random_text(rng, surrogates=False),
    ))  # fmt: skip


def media(rng: random.Random) -> bytes:
    magic = rng.choice((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"RIFF", b"{", b""))
    body = rng.randbytes(rng.choice((0, 10, 3000)))
    if rng.random() < 0.02:
        body = bytes(9 * 1024 * 1024)  # over dashboard.max_media_bytes
    return magic + body


def fuzz_dashboard(cases: int, seed: int) -> Result:
    """Hostile messages on every dashboard topic into the dashboard's ingestion."""
    return asyncio.run(fuzz_dashboard_async(cases, seed))


async def fuzz_dashboard_async(cases: int, seed: int) -> Result:
    """`fuzz_dashboard` on an event loop: the ingestion and the history are coroutines."""
    from starlette.responses import JSONResponse

    from agent.apps.dashboard.history_sqlite import SqliteHistory
    from agent.apps.dashboard.ingest import Ingest
    from agent.apps.dashboard.live import Hub, Interest, LiveView
    from agent.sinks.mqtt.topics import Topics, parse_topic

    rng = random.Random(seed)
    result = Result("dashboard")
    valid = valid_payloads(rng)
    kinds = [parse_topic(PREFIX, t) for t in Topics(PREFIX, SITE).every_topic()]
    assert all(k is not None for k in kinds), "every_topic and parse_topic disagree"
    topic_kinds = [k.kind for k in kinds if k is not None]
    history = SqliteHistory(Path(":memory:"), 7.0)  # SQLite's in-memory database
    ingest = Ingest(PREFIX, LiveView(), history, Hub())

    class EveryEvent(Interest):
        """A page that wants every event, every device's points included."""

        def wants(self, event: dict[str, Any]) -> bool:
            return True

    async def serves() -> str | None:
        """What the dashboard serves renders as strict JSON; else why not."""
        try:
            JSONResponse(ingest.live.overview())
            JSONResponse({"alarms": await history.alarms(0.0)})
            for key in list(ingest.live.devices)[-20:]:
                JSONResponse({"points": await history.trend(*key, 0.0)})
        except Exception as exc:
            return f"{type(exc).__name__}: {exc}"
        return None

    ignored = errors = 0
    async with ingest.hub.listen(EveryEvent()) as browser:
        with quiet_logs():
            for case in range(cases):
                kind = rng.choice(topic_kinds)
                topic = dashboard_topic(rng, kind) if rng.random() < 0.95 else hostile_topic(rng)
                if kind == "status":
                    how, payload = "status", rng.choice((b"online", b"offline", b"x" * 65,
                                                         rng.randbytes(8), b""))  # fmt: skip
                elif kind in ("snapshot", "evidence"):
                    how, payload = "media", media(rng)
                else:
                    how, payload = hostile_payload(rng, valid[kind])
                before = sum(ingest.rejected.values())
                with timed_case(result, case, (topic, payload)):
                    try:
                        await ingest.process(topic, payload)
                    except Exception as exc:  # the property: never
                        result.fail(case, f"handle raised {type(exc).__name__}: {exc}",
                                    (topic, payload))  # fmt: skip
                        continue
                refused = sum(ingest.rejected.values()) - before
                if (
                    sum(n for (_, reason), n in ingest.rejected.items() if reason == "error")
                    > errors
                ):
                    errors += 1
                    result.fail(case, f"the handler failed: {LAST_DETAIL[0]}", (topic, payload))
                if refused > 1:
                    result.fail(
                        case, f"counted {refused} refusals for one message", (topic, payload)
                    )
                if parse_topic(PREFIX, topic) is None or not payload:
                    ignored += 1
                    result.outcomes["ignored"] += 1
                elif refused == 0:
                    result.outcomes["accepted"] += 1
                result.outcomes[how] += 1
                for event in await browser.take(0.0):  # a browser that keeps up
                    try:
                        json.dumps(event, allow_nan=False)
                    except (TypeError, ValueError) as exc:
                        result.fail(case, f"a browser event is not JSON: {exc}", (topic, payload))
                if case % PROBE_EVERY == PROBE_EVERY - 1:
                    await probe_dashboard(ingest, result, case, valid)
                    problem = await serves()
                    if problem is not None:
                        result.fail(case, f"the dashboard API cannot render: {problem}",
                                    (topic, payload))  # fmt: skip
    probes = cases // PROBE_EVERY
    for (kind, reason), count in ingest.rejected.items():
        result.outcomes[f"refused:{reason}"] += count
        if reason not in DASHBOARD_REASONS:
            result.fail(-1, f"{count} refusals as {kind}/{reason} (a handler failed)", "")
    total = result.outcomes["accepted"] + sum(ingest.rejected.values()) + ignored
    if total != cases + 2 * probes:
        result.fail(-1, f"accepted + refused + ignored = {total}, sent {cases + 2 * probes}", "")
    problem = await serves()
    if problem is not None:
        result.fail(cases, f"the dashboard API cannot render: {problem}", "")
    await history.close()
    return result


async def probe_dashboard(
    ingest: Any, result: Result, case: int, valid: dict[str, list[Doc]]
) -> None:
    """A valid alarm and state after hostile messages are still taken."""
    alarm = {**valid["alarm"][0], "id": f"probe-{case}"}
    state = {**valid["state"][0], "device": "probe", "updated_at": None}
    before = sum(ingest.rejected.values())
    await ingest.process(f"{PREFIX}/{SITE}/probe/alarm", json.dumps(alarm).encode())
    await ingest.process(f"{PREFIX}/{SITE}/probe/state", json.dumps(state).encode())
    result.outcomes["accepted"] += 2
    if sum(ingest.rejected.values()) != before:
        result.fail(case, "a valid message after hostile ones was refused", alarm)
    if await ingest.history.alarm(alarm["id"]) is None:
        result.fail(case, "a valid alarm after hostile ones is not in the history", alarm)
    if ingest.live.device(SITE, "probe").state != state:
        result.fail(case, "a valid state after hostile ones is not shown", state)
    db, now = ingest.history.db, time.time()
    latest = db.execute("SELECT MAX(at) FROM scores").fetchone()[0] or 0.0
    latest = max(latest, db.execute("SELECT MAX(last_at) FROM alarms").fetchone()[0] or 0.0)
    if latest > now:  # it would hold back later chart points, and never age out
        result.fail(case, f"the history holds a time {latest - now:.0f} s in the future", "")


# ---------------------------------------------------------------------------------------------
# config


BASE_CONFIG = """\
site: plant-a
broker:
  host: 127.0.0.1
  port: 1883
  topic_prefix: edge
  password: ${FUZZ_UNSET_PASSWORD:-s3cr3t-pw}
  max_message_bytes: 65536
inspection: {enabled: true, interval_s: 60, device_timeout_s: 5}
storage:
  min_free_mb: 256
  evidence: {enabled: true, retention_days: 7}
dashboard: {port: 8080, retention_days: 7}
metrics: {port: 9100}
devices:
  - id: pump-01
    location: {line: L1, zone: Z1, position: P1}
    fusion:
      weights: {sensor: 1.0}
      stale_after_s: 10
    alarm: {hysteresis: 0.05, min_hold_s: 10, major_at: 0.6, critical_at: 0.8}
    sources:
      modbus:
        host: 127.0.0.1
        port: 502
        unit_id: 1
        poll_hz: 10
        max_gap: 8
        registers:
          - {name: pressure, address: 0, data_type: float32, scale: 1.0, high: 10}
          - {name: current, address: 2, data_type: uint16, word_order: little, low: 0}
          - {name: running, address: 0, kind: coil, data_type: bool}
  - id: valve-03
    sources:
      modbus:
        transport: rtu
        serial_port: /dev/ttyUSB0
        registers: [{name: flow, address: 10, data_type: int32, offset: -5}]
"""
YAML_SNIPPETS = [
    b"&a ", b"*a", b"<<: *a\n", b"!!python/object/apply:os.system ['true']", b"!!binary AA==",
    b"\t", b"- ", b": ", b"{", b"[", b"? ", b"|\n", b"---\n", b"...\n", b"%YAML 1.1\n",
    b"\xff", b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"${HOME}", b"${X:-", b"9" * 5000, b"1e999",
    b".nan", b".inf", b"-.inf", b"0x10", b"0o17", b"2001-13-45", b"~", b"null", b"'", b'"',
    b"[" * 100, b"- " * 70, b"a: &x [1]\nb: &y [*x, *x, *x, *x, *x, *x, *x, *x, *x, *x]\n",
]  # fmt: skip


def finite_everywhere(value: Any) -> bool:
    """Every float in a value, pydantic models walked field by field (a model_dump of the
    config leaves out its sources, a model composed from the sense registry)."""
    from pydantic import BaseModel

    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, BaseModel):
        return all(finite_everywhere(v) for v in vars(value).values())
    if isinstance(value, dict):
        return all(finite_everywhere(v) for v in value.values())
    if isinstance(value, list | tuple):
        return all(finite_everywhere(v) for v in value)
    return True


def fuzz_config(cases: int, seed: int) -> Result:
    """Hostile config files into config_from_bytes: an AgentConfig or a ConfigError."""
    import yaml

    from agent.config.loader import ConfigError, config_from_bytes

    rng = random.Random(seed)
    result = Result("config")
    base_doc = yaml.safe_load(BASE_CONFIG)
    base_bytes = BASE_CONFIG.encode()
    pool = [base_doc["devices"][0], base_doc["broker"], base_doc["devices"][0]["sources"]]
    with tempfile.TemporaryDirectory(prefix="fuzz-config-") as folder:
        base_dir = Path(folder)
        for case in range(cases):
            roll = rng.random()
            if roll < 0.05:
                how, raw = "valid", base_bytes
            elif roll < 0.55:
                how = "structure"
                doc = mutate_doc(rng, base_doc, pool)
                try:
                    raw = yaml.safe_dump(doc, allow_unicode=rng.random() < 0.5).encode(
                        "utf-8", "surrogatepass"
                    )
                except (yaml.YAMLError, RecursionError):
                    raw = serialise(rng, doc)  # JSON is YAML
            else:
                how, raw = "bytes", mutate_bytes(rng, base_bytes, heavy=False)
                if rng.random() < 0.5:
                    at = rng.randint(0, len(raw))
                    raw = raw[:at] + rng.choice(YAML_SNIPPETS) + raw[at:]
            result.outcomes[how] += 1
            with timed_case(result, case, raw):
                try:
                    config = config_from_bytes(raw, "<fuzz>", base_dir=base_dir)
                except ConfigError as exc:
                    result.outcomes["refused"] += 1
                    if not exc.problems or not all(isinstance(p, str) and p for p in exc.problems):
                        result.fail(case, f"ConfigError without problems: {exc!r}", raw)
                    continue
                except Exception as exc:
                    result.fail(case, f"raised {type(exc).__name__}: {exc}", raw)
                    continue
            result.outcomes["accepted"] += 1
            if not finite_everywhere(config):
                result.fail(case, "an accepted config holds NaN or infinity", raw)
    if result.outcomes["valid"] and not result.outcomes["accepted"]:
        result.fail(-1, "the valid config was never accepted", BASE_CONFIG)
    return result


# ---------------------------------------------------------------------------------------------
# modbus


def answering(reply: Any) -> Callable[[str, int, int], Any]:
    """A FakeClient's answer to every read: `reply`."""
    return lambda kind, address, count: reply


class FakeClient:
    """A pymodbus client stand-in: every read returns (or raises) what the case chose."""

    connected = True

    def __init__(self) -> None:
        self.reply: Callable[[str, int, int], Any] = lambda kind, address, count: None

    async def _answer(self, kind: str, address: int, count: int) -> Any:
        outcome = self.reply(kind, address, count)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    async def read_holding_registers(self, address: int, *, count: int, device_id: int) -> Any:
        return await self._answer("holding", address, count)

    async def read_input_registers(self, address: int, *, count: int, device_id: int) -> Any:
        return await self._answer("input", address, count)

    async def read_coils(self, address: int, *, count: int, device_id: int) -> Any:
        return await self._answer("coil", address, count)

    async def read_discrete_inputs(self, address: int, *, count: int, device_id: int) -> Any:
        return await self._answer("discrete", address, count)


WORD_PATTERNS = [0x0000, 0xFFFF, 0x7FC0, 0x7F80, 0xFF80, 0xFFC0, 0x8000, 0x7FFF, 0x0001, 0x807F]
SCALES = [1.0, 0.1, -1.0, 0.0, 1e-300, 1e300, 3.4e38, -1.7e308, 1e10]
OFFSETS = [0.0, -5.0, 1e308, -1e308, 273.15]


def register_map(rng: random.Random) -> list[dict[str, Any]]:
    registers = []
    for index in range(rng.randint(1, 6)):
        kind = rng.choice(("holding", "input", "coil", "discrete"))
        word_types = ("int16", "uint16", "int32", "uint32", "float32")
        data_type = "bool" if kind in ("coil", "discrete") else rng.choice(word_types)
        registers.append({
            "name": f"r{index}",
            "address": rng.choice((rng.randint(0, 40), rng.randint(0, 65534))),
            "kind": kind,
            "data_type": data_type,
            "byte_order": rng.choice(("big", "little")),
            "word_order": rng.choice(("big", "little")),
            "scale": rng.choice(SCALES) if rng.random() < 0.3 else 1.0,
            "offset": rng.choice(OFFSETS) if rng.random() < 0.2 else 0.0,
        })  # fmt: skip
    return registers


def modbus_reply(rng: random.Random, kind: str, count: int) -> tuple[str, Any]:
    """A reply to one read: (how it was made, a PDU or an exception to raise)."""
    from pymodbus.exceptions import ConnectionException, ModbusIOException
    from pymodbus.pdu import ExceptionResponse
    from pymodbus.pdu.bit_message import ReadCoilsResponse, ReadDiscreteInputsResponse
    from pymodbus.pdu.register_message import (
        ReadHoldingRegistersResponse,
        ReadInputRegistersResponse,
    )

    classes = {"holding": ReadHoldingRegistersResponse, "input": ReadInputRegistersResponse,
               "coil": ReadCoilsResponse, "discrete": ReadDiscreteInputsResponse}  # fmt: skip
    bits = kind in ("coil", "discrete")
    padded = -(-count // 8) * 8
    roll = rng.random()

    def words(n: int) -> list[int]:
        if rng.random() < 0.5:
            return [rng.choice(WORD_PATTERNS) for _ in range(n)]
        return [rng.getrandbits(16) for _ in range(n)]

    if roll < 0.45:
        if bits:
            return "right", classes[kind](bits=[rng.random() < 0.5 for _ in range(padded)])
        return "right", classes[kind](registers=words(count))
    if roll < 0.55:
        n = max(0, rng.choice((0, count - 1, count + 1, padded - 8, 2 * count + 9)))
        if bits:
            return "length", classes[kind](bits=[True] * n)
        return "length", classes[kind](registers=words(n))
    if roll < 0.62:
        bad = [rng.choice((-1, 0x10000, 2**40, -(2**63))) for _ in range(count)]
        hostile: Any = bad  # words and bits out of range, as a broken device might send
        return "range", classes[kind](bits=hostile) if bits else classes[kind](registers=hostile)
    if roll < 0.72:
        code = rng.choice((1, 2, 3, 4, 6, 10, 11, 0, 255, rng.randint(0, 255)))
        return "exception", ExceptionResponse(classes[kind].function_code, code)
    if roll < 0.77:
        other = rng.choice([c for k, c in classes.items() if k != kind])
        return "wrong_type", other(bits=[True] * padded, registers=words(count))
    if roll < 0.92:
        pdu = classes[kind]()
        data = bytes([rng.choice((count * 2, padded // 8, rng.randint(0, 255)))])
        data += rng.randbytes(rng.choice((0, count * 2, padded // 8, rng.randint(0, 260))))
        try:
            pdu.decode(data)
        except Exception:  # pymodbus's framer drops what it cannot decode: a timeout
            return "undecodable", ModbusIOException("no response")
        return "decoded", pdu
    return "transport", rng.choice((
        ModbusIOException("no response"), ConnectionException("reset"),
        TimeoutError("timed out"), ConnectionResetError(104, "reset"), OSError(113, "no route"),
    ))  # fmt: skip


def fuzz_modbus(cases: int, seed: int) -> Result:
    """Random register maps and replies into ModbusSource._read: finite values or SourceError."""
    from pydantic import ValidationError

    from agent.senses.sensor.config import ModbusConfig
    from agent.senses.sensor.source import ModbusSource
    from agent.senses.source import SourceError

    rng = random.Random(seed)
    result = Result("modbus")
    client = FakeClient()
    loop = asyncio.new_event_loop()
    try:
        for case in range(cases):
            registers = register_map(rng)
            with timed_case(result, case, registers):
                try:
                    config = ModbusConfig.model_validate({"registers": registers})
                except ValidationError as exc:
                    result.fail(case, f"a valid register map was refused: {exc}", registers)
                    continue
                source = ModbusSource("fuzz", config)
                for block in source._blocks:
                    how, reply = modbus_reply(rng, block.kind, block.count)
                    client.reply = answering(reply)
                    result.outcomes[how] += 1
                    shown = (how, block, getattr(reply, "registers", None),
                             getattr(reply, "bits", None), reply)  # fmt: skip
                    try:
                        values = loop.run_until_complete(source._read(client, block))  # type: ignore[arg-type]
                    except SourceError:
                        result.outcomes["source_error"] += 1
                        continue
                    except Exception as exc:
                        result.fail(case, f"raised {type(exc).__name__}: {exc}", shown)
                        continue
                    result.outcomes["values"] += 1
                    names = {reg.name for reg in block.registers}
                    if set(values) != names:
                        result.fail(case, f"values for {sorted(values)}, asked {sorted(names)}",
                                    shown)  # fmt: skip
                    bad = {k: v for k, v in values.items() if not math.isfinite(v)}
                    if bad:
                        result.fail(case, f"non-finite values {bad}", shown)
    finally:
        loop.close()
    return result


# ---------------------------------------------------------------------------------------------


RUNNERS: dict[str, Callable[[int, int], Result]] = {
    "agent": fuzz_agent,
    "dashboard": fuzz_dashboard,
    "config": fuzz_config,
    "modbus": fuzz_modbus,
}


def run(cases: int, seed: int, targets: list[str]) -> dict[str, Any]:
    """Run targets with `cases` split evenly between them; the JSON summary."""
    started = time.perf_counter()
    results = {}
    for index, target in enumerate(targets):
        share = cases // len(targets) + (1 if index < cases % len(targets) else 0)
        began = time.perf_counter()
        result = RUNNERS[target](share, seed)
        result.seconds = time.perf_counter() - began
        results[target] = result.summary()
    return {
        "date": datetime.date.today().isoformat(),
        "seed": seed,
        "cases": sum(r["cases"] for r in results.values()),
        "failures": sum(r["failures"] for r in results.values()),
        "seconds": round(time.perf_counter() - started, 2),
        "targets": results,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=10_000, help="in all, split evenly")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", choices=(*TARGETS, "all"), default="all")
    args = parser.parse_args(argv)
    targets = list(TARGETS) if args.target == "all" else [args.target]
    summary = run(args.cases, args.seed, targets)
    print(json.dumps(summary, indent=2, ensure_ascii=True))
    return 1 if summary["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
