"""Every message that arrives from the broker is untrusted: size, depth and shape are checked.

`parse_json` refuses a payload over a size limit before reading it, one that is not UTF-8 JSON,
and one nested deeper than a limit (counted on the raw bytes, before the parser recurses);
`validated` checks the parsed value against a pydantic model. Both raise one exception,
`RejectedMessage`, whose `reason` is a short machine word for logs and metrics.

The models here are the shared ones (the acknowledgement request, bounded strings and numbers);
the dashboard's own live in agent/apps/dashboard/messages.py.
"""

from __future__ import annotations

import json
import math
import re
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from agent.jsontext import too_deep

TOO_LARGE = "too_large"  # over the size limit, not parsed
TOO_DEEP = "too_deep"  # nested deeper than the depth limit, not parsed
NOT_JSON = "not_json"  # not UTF-8, not JSON, NaN/Infinity, 1e999, a lone surrogate
INVALID = "invalid"  # JSON, but not the shape the topic carries
UNKNOWN_ALARM = "unknown_alarm"  # an acknowledgement of an alarm the agent does not know
UNKNOWN_DEVICE = "unknown_device"  # a request for a device the agent does not watch
REFUSED = "refused"  # a request it cannot carry out (a rollback with no earlier version)
TOO_MANY = "too_many"  # would add a site or device past the dashboard's bounds
ERROR = "error"  # the handler failed on it (a bug): logged and counted all the same
BACKLOG = "backlog"  # arrived while too many messages waited to be stored (a slow database)

DEFAULT_MAX_DEPTH = 32  # the agent's deepest payload (an alarm's evidence) nests 5 levels
SQLITE_INT_MAX = 2**63 - 1

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")  # \ud800 to \udfff

Model = TypeVar("Model", bound=BaseModel)


class RejectedMessage(Exception):  # noqa: N818 - a verdict on a message, not an error
    """A message refused before it changed anything; `reason` is one of the words above."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


def check_size(payload: bytes, max_bytes: int) -> None:
    """RejectedMessage(too_large) when the payload is over `max_bytes`."""
    if len(payload) > max_bytes:
        raise RejectedMessage(TOO_LARGE, f"{len(payload)} bytes, limit {max_bytes}")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    """A JSON number as a float; one too large for a double (1e999) would be infinity."""
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number {text[:20]} is out of range")
    return value


def _lone_surrogate(value: Any) -> bool:
    """Whether a parsed value holds a surrogate that no UTF-8 text can carry ("\\ud800" alone):
    stored in SQLite or served as JSON, it would fail there, on every later read."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_json(payload: bytes, max_bytes: int, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value of a payload, or RejectedMessage(too_large | too_deep | not_json).

    Not JSON here also means a string escape of a lone surrogate (`"\\ud800"`): valid JSON
    syntax, but not Unicode text."""
    check_size(payload, max_bytes)
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RejectedMessage(NOT_JSON, "not UTF-8") from exc
    if too_deep(payload, max_depth):
        raise RejectedMessage(TOO_DEEP, f"nested deeper than {max_depth}")
    try:
        value = json.loads(text, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError as exc:  # cannot happen after the depth check; kept as a backstop
        raise RejectedMessage(TOO_DEEP) from exc
    except ValueError as exc:
        raise RejectedMessage(NOT_JSON, str(exc)[:120]) from exc
    if _SURROGATE_ESCAPE.search(payload) and _lone_surrogate(value):  # the search is cheap
        raise RejectedMessage(NOT_JSON, "a string escapes an unpaired surrogate (not Unicode)")
    return value


def validated(model: type[Model], value: Any) -> Model:
    """`value` as `model`, or RejectedMessage(invalid) naming the first bad field."""
    try:
        return model.model_validate(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "message"
        raise RejectedMessage(INVALID, f"{where}: {first['msg']}"[:160]) from exc


# Bounded building blocks for inbound models.
Id = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Name = Annotated[str, StringConstraints(max_length=128)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Timestamp = Annotated[str, StringConstraints(max_length=64)]
Finite = Annotated[float, Field(allow_inf_nan=False)]
SqliteInt = Annotated[int, Field(ge=-SQLITE_INT_MAX - 1, le=SQLITE_INT_MAX)]


class Inbound(BaseModel):
    """Strict types (no coercion: "3" is not 3); fields this release does not know are kept."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)


class AckRequest(Inbound):
    """An operator's acknowledgement of an alarm, as published on `<device>/ack`."""

    id: Id
    by: Name | None = None
    at: Timestamp | None = None
    note: Text | None = None


# What a request on `<device>/learn` asks (the agent's and the dashboard's models alike)
LearnAction = Literal["relearn", "rollback"]
LearnDuration = Annotated[float, Field(gt=0.0, le=7 * 86_400.0, allow_inf_nan=False)]


def duration_only_to_relearn(action: LearnAction, duration_s: float | None) -> None:
    """A rollback learns nothing, so it takes no duration: ValueError naming the field."""
    if action == "rollback" and duration_s is not None:
        raise ValueError("duration_s: only a relearn takes one")


class LearnRequest(Inbound):
    """A request on `<device>/learn`: relearn the device's normal (after maintenance), or roll
    back to the version it learned before (a relearn that learned the wrong normal).

    It changes what the device is judged by, so it is carried out only when every field is
    understood: a field this release does not know (a later release's "which version", "which
    sense") is refused, naming it, rather than ignored into a different request."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)

    action: LearnAction = "relearn"
    by: Name | None = None
    note: Text | None = None
    duration_s: LearnDuration | None = None

    @model_validator(mode="after")
    def _duration_only_to_relearn(self) -> LearnRequest:
        duration_only_to_relearn(self.action, self.duration_s)
        return self
