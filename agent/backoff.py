"""Exponential backoff with jitter, for retrying a failed source without hammering it."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays `first_s`, twice that, … up to `max_s`, each spread by ±`jitter`.

    The spread keeps devices that failed together (a switch rebooted) from all retrying at
    the same instant; `reset()` after a success starts again from `first_s`.
    """

    first_s: float = 1.0
    max_s: float = 30.0
    jitter: float = 0.2
    _next_s: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s or not 0 <= self.jitter < 1:
            raise ValueError("need 0 < first_s <= max_s and 0 <= jitter < 1")
        self._next_s = self.first_s

    def next_delay(self) -> float:
        """The delay before the next attempt; each call doubles the following one."""
        base = self._next_s
        self._next_s = min(base * 2, self.max_s)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        """Success: the next failure waits `first_s` again."""
        self._next_s = self.first_s
