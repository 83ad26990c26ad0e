"""Whether a device's calibrated scores keep their promise on its own running.

A calibrated score is P(a healthy sample of this machine scores lower), so over healthy
running at most one score in 10^d reaches d decades of rarity (the sound's and the image's
medians reach them less often than that: docs/calibration.md). The check counts, per sense,
the calibrated scores judged and how many reached 2, 3 and 4 decades (one in 100, 1,000,
10,000), where a day holds enough samples to count them while the alarm threshold (about 5
decades for one false alarm a day) sees a handful. A running agent counts over the last day
(`LastDay`): months of healthy counts would otherwise hide this week's change.

Many more than promised means the learned normal no longer describes the machine: a fault
developing below the alarm threshold, or a new normal (after maintenance, at another load)
that a relearn should learn. Scores counted by the caller: healthy time only (the agent
leaves out time with an alarm open; `evaluate episodes` the faults' windows).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

LEVELS = (2, 3, 4)  # decades of rarity counted: one healthy score in 100, 1,000, 10,000
# Fewer scores than this and the first level expects under 10: too early to say
MIN_JUDGED = 10 * 10 ** LEVELS[0]
# "higher" when a level is reached this many times as often as promised, and at least
# MIN_REACHED times: consecutive scores share windows, so one excursion reaches a level
# several times in a row and a smaller excess can be one slow healthy swing
HIGHER_RATIO = 10.0
MIN_REACHED = 10
# A running check that said "higher" says "holds" again only under half that ratio: a count
# hovering at the boundary would otherwise flip the verdict (and log it) score after score
CLEAR_RATIO = HIGHER_RATIO / 2
ROUNDING = 1e-9  # relative: a score at a level's nines reaches it
WINDOW_S = 86_400.0  # a running agent's check counts the last day ...
BUCKET_S = 3_600.0  # ... in hours, the oldest dropped as a new one starts

Verdict = Literal["early", "holds", "higher"]


@dataclass(slots=True)
class SenseCheck:
    """One sense's calibrated scores: how many were judged and how many reached each level."""

    judged: int = 0
    reached: list[int] = field(default_factory=lambda: [0] * len(LEVELS))

    def add(self, score: float) -> None:
        """Count one calibrated score (a hard limit's 1.0 reaches every level)."""
        self.judged += 1
        exceedance = 1.0 - score  # 1 − 0.999 is 0.0010000000000000009 in doubles: a tolerance
        for k, level in enumerate(LEVELS):
            if exceedance <= 10.0**-level * (1.0 + ROUNDING):
                self.reached[k] += 1

    def merge(self, other: SenseCheck, sign: int = 1) -> None:
        """Add another count of the same sense (another episode, another period); with
        `sign` -1, take away one that was added (an hour leaving the last day)."""
        self.judged += sign * other.judged
        self.reached = [a + sign * b for a, b in zip(self.reached, other.reached, strict=True)]

    def verdict(self, was: Verdict | None = None) -> Verdict:
        """`early` with too few scores, `higher` when a level is reached far more often than
        promised, else `holds`; `was` the verdict said before (`higher` clears at CLEAR_RATIO)."""
        if self.judged < MIN_JUDGED:
            return "early"
        ratio = CLEAR_RATIO if was == "higher" else HIGHER_RATIO
        for level, reached in zip(LEVELS, self.reached, strict=True):
            if reached >= MIN_REACHED and reached >= ratio * self.expected(level):
                return "higher"
        return "holds"

    def expected(self, level: int) -> float:
        """How many of the judged scores a healthy machine reaches `level` decades with."""
        return self.judged * 10.0**-level

    def view(self, was: Verdict | None = None) -> dict[str, Any]:
        """Plain JSON: judged, per level reached / expected / their ratio, and the verdict."""
        levels = []
        for level, reached in zip(LEVELS, self.reached, strict=True):
            expected = self.expected(level)
            ratio = significant(reached / expected) if expected > 0 else None
            row = {"decades": level, "reached": reached, "expected": significant(expected)}
            levels.append({**row, "ratio": ratio})
        return {"judged": self.judged, "levels": levels, "verdict": self.verdict(was)}


@dataclass(slots=True)
class CalibrationCheck:
    """Every calibrated sense of one device (or of many episodes, merged)."""

    senses: dict[str, SenseCheck] = field(default_factory=dict)

    def add(self, sense: str, score: float) -> None:
        """Count one calibrated score of `sense`."""
        self.senses.setdefault(sense, SenseCheck()).add(score)

    def merge(self, other: CalibrationCheck) -> None:
        """Add another check's counts, sense by sense."""
        for sense, check in other.senses.items():
            self.senses.setdefault(sense, SenseCheck()).merge(check)

    def view(self, said: dict[str, Verdict] | None = None) -> dict[str, Any]:
        """Each sense's `SenseCheck.view`, senses in the order first counted (`said`: the
        verdicts a running check said before)."""
        said = said or {}
        return {sense: check.view(said.get(sense)) for sense, check in self.senses.items()}


def sense_check(counts: dict[str, Any]) -> SenseCheck:
    """A SenseCheck from its plain counts (`judged`, `reached`), as `LastDay.saved` wrote them."""
    return SenseCheck(int(counts["judged"]), [int(n) for n in counts["reached"]])


def times_promised(ratio: float | None) -> str:
    """How many times as often as promised, for people: two significant digits, whole from 10
    on; – when nothing was judged."""
    if ratio is None:
        return "–"
    return f"{ratio:,.0f}" if ratio >= 10 else f"{ratio:.2g}"


def significant(value: float) -> float:
    """Four significant digits: a count's expectation may be 0.0004 or 40,000."""
    return float(f"{value:.4g}")


class LastDay:
    """A running device's check over the last `WINDOW_S`, counted in `BUCKET_S` buckets (the
    window slides an hour at a time), from `started` (when its learned version came into use)."""

    def __init__(self, senses: list[str], started: float) -> None:
        self.started = started
        self.total = CalibrationCheck({sense: SenseCheck() for sense in senses})
        self.said: dict[str, Verdict] = {}  # each sense's verdict as last said
        self._hours: deque[tuple[int, CalibrationCheck]] = deque()

    def add(self, sense: str, score: float, now: float) -> Verdict | None:
        """Count a score at `now`; the sense's verdict over the window when it changed."""
        self._slide(now)
        hour = math.floor(now / BUCKET_S)
        if self._hours and hour < self._hours[-1][0]:  # the clock was set back: the newest hour
            hour = self._hours[-1][0]  # keeps counting, so the hours stay oldest first
        if not self._hours or self._hours[-1][0] != hour:
            self._hours.append((hour, CalibrationCheck()))
        self._hours[-1][1].add(sense, score)
        self.total.add(sense, score)
        was = self.said.get(sense, "early")
        self.said[sense] = verdict = self.total.senses[sense].verdict(was)
        return verdict if verdict != was else None

    def view(self, now: float) -> dict[str, Any]:
        """`since` (the start of what is counted: a Unix time) and each sense's view."""
        self._slide(now)
        window_start = (math.floor((now - WINDOW_S) / BUCKET_S) + 1) * BUCKET_S
        senses = self.total.view(self.said)
        return {"since": max(self.started, window_start), "senses": senses}

    def saved(self) -> dict[str, Any]:
        """What a restart needs to go on counting: `started`, the verdicts said, and each hour's
        counts per sense (plain JSON; `resumed` reads it back)."""
        hours = [
            {"hour": hour, "senses": {sense: {"judged": c.judged, "reached": list(c.reached)}
                                      for sense, c in counted.senses.items()}}
            for hour, counted in self._hours
        ]  # fmt: skip
        return {"started": self.started, "said": dict(self.said), "hours": hours}

    @classmethod
    def resumed(cls, senses: list[str], saved: dict[str, Any], now: float) -> LastDay:
        """The check `saved` described, of the same learned version, going on at `now`: hours
        that left the last day meanwhile are dropped, senses no longer scored forgotten."""
        check = cls(senses, float(saved["started"]))
        for entry in saved["hours"]:
            if entry["hour"] > math.floor(now / BUCKET_S):  # saved by a clock set ahead
                continue
            counted = CalibrationCheck({
                sense: sense_check(counts)
                for sense, counts in entry["senses"].items() if sense in senses
            })  # fmt: skip
            check._hours.append((int(entry["hour"]), counted))
            check.total.merge(counted)
        check.said = {s: v for s, v in saved["said"].items() if s in senses}
        check._slide(now)
        return check

    def _slide(self, now: float) -> None:
        """Drop the hours that ended before the window's start."""
        oldest = math.floor((now - WINDOW_S) / BUCKET_S)
        while self._hours and self._hours[0][0] <= oldest:
            _, hour = self._hours.popleft()
            for sense, counted in hour.senses.items():
                self.total.senses[sense].merge(counted, sign=-1)
