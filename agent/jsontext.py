"""JSON read from outside (a payload, a file): its nesting is bounded before it is parsed.

Python's parser recurses once per level, so a megabyte of `[` would exhaust the stack; the
depth is counted on the raw bytes first, where it costs no more than `max_depth` steps.
"""

from __future__ import annotations

import json
import re
from typing import Any

_STRUCTURE = re.compile(rb'[\\"\[\]{}]')
_OPEN = frozenset(b"[{")
_CLOSE = frozenset(b"]}")
_QUOTE, _BACKSLASH = ord('"'), ord("\\")


def too_deep(payload: bytes, max_depth: int) -> bool:
    """Whether JSON text nests arrays/objects deeper than `max_depth` (strings skipped).

    Looks only at quotes, backslashes and brackets, and stops at the first level too deep,
    so a megabyte of `[` costs no more than `max_depth` steps.
    """
    depth, in_string, skip = 0, False, -1
    for match in _STRUCTURE.finditer(payload):
        at = match.start()
        if at == skip:  # the character after a backslash inside a string
            continue
        char = payload[at]
        if in_string:
            if char == _BACKSLASH:
                skip = at + 1
            elif char == _QUOTE:
                in_string = False
        elif char == _QUOTE:
            in_string = True
        elif char in _OPEN:
            depth += 1
            if depth > max_depth:
                return True
        elif char in _CLOSE:
            depth -= 1
    return False


def loads_bounded(raw: bytes, max_depth: int) -> Any:
    """The JSON value of `raw`; ValueError when it is not JSON or nests past `max_depth`."""
    if too_deep(raw, max_depth):
        raise ValueError(f"nested deeper than {max_depth} levels")
    return json.loads(raw)
