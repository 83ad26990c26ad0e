"""Retry delays with jitter: a backoff for retrying a failure, a schedule for probing an outage."""

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


@dataclass
class ProbeSchedule:
    """How often to knock on a service that is down: often for a while, then less and less.

    For the first `fast_for_s` of an outage every interval is `first_s`, so a short outage
    is noticed within about `first_s` of its end; after that the interval doubles per probe
    up to `max_s`, so a service that stays down long is knocked on rarely. Each interval is
    spread by ±`jitter`, for the same reason as `Backoff`'s; `reset()` starts a new outage.
    """

    first_s: float = 0.5
    fast_for_s: float = 60.0
    max_s: float = 10.0
    jitter: float = 0.2
    _slow_s: float = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.first_s <= self.max_s or self.fast_for_s < 0 or not 0 <= self.jitter < 1:
            raise ValueError("need 0 < first_s <= max_s, fast_for_s >= 0 and 0 <= jitter < 1")
        self._slow_s = self.first_s

    def next_delay(self, down_for_s: float) -> float:
        """The wait before the next probe, the service having been down for `down_for_s`."""
        if down_for_s < self.fast_for_s:
            base = self.first_s
        else:
            self._slow_s = base = min(self._slow_s * 2, self.max_s)
        return base * random.uniform(1 - self.jitter, 1 + self.jitter)

    def reset(self) -> None:
        """A new outage: probe every `first_s` again."""
        self._slow_s = self.first_s
