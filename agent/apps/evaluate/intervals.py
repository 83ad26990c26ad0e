"""How far a benchmark's counts pin down the rates they estimate: exact 95 % intervals.

A split with 42 faults and 41 healthy hours measures a miss rate and a false-alarm rate with
wide uncertainty: 4 false alarms in 41 h is 0.097 per hour, yet every rate from about 0.03 to
0.25 would make 4 no rarer than a 2.5 % tail. The intervals here are the exact (conservative)
ones, which cover the true rate at least 95 % of the time whatever it is:

- a miss rate, `missed` of `faults` (binomial): Clopper–Pearson, from beta quantiles;
- a rate of events over an exposure, `events` in `hours` (Poisson): Garwood, from chi-square
  quantiles.

Both are two-sided, 2.5 % in each tail; the upper end is then also a one-sided 97.5 % bound.
"""

from __future__ import annotations

import math

from scipy.stats import beta, chi2

CONFIDENCE = 0.95
_TAIL = (1.0 - CONFIDENCE) / 2.0


def proportion_interval(events: int, trials: int) -> tuple[float, float] | None:
    """Clopper–Pearson interval of a proportion `events / trials`; None without trials."""
    if trials <= 0:
        return None
    if not 0 <= events <= trials:
        raise ValueError(f"{events} events of {trials} trials")
    low = 0.0 if events == 0 else float(beta.ppf(_TAIL, events, trials - events + 1))
    high = 1.0 if events == trials else float(beta.ppf(1.0 - _TAIL, events + 1, trials - events))
    return low, high


def rate_interval(events: int, exposure: float) -> tuple[float, float] | None:
    """Garwood interval of a Poisson rate, `events` per unit of `exposure`; None without any."""
    if exposure <= 0.0:
        return None
    if events < 0:
        raise ValueError(f"{events} events")
    low = 0.0 if events == 0 else float(chi2.ppf(_TAIL, 2 * events)) / 2.0
    high = float(chi2.ppf(1.0 - _TAIL, 2 * events + 2)) / 2.0
    return low / exposure, high / exposure


def rounded(interval: tuple[float, float] | None, places: int) -> list[float] | None:
    """An interval as the JSON gives it: [low, high], the low end rounded down and the high
    end up, so rounding never narrows it."""
    if interval is None:
        return None
    scale = 10.0**places
    return [math.floor(interval[0] * scale) / scale, math.ceil(interval[1] * scale) / scale]
