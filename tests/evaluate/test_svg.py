"""The pieces evaluation pictures are drawn with: folding samples into spans, decades."""

from __future__ import annotations

import numpy as np

from agent.apps.evaluate.svg import PLOT_W, fold_max
from agent.core.calibration import MAX_DECADES, decades


def test_sparse_samples_hold_until_the_next_and_a_long_gap_stays_a_gap() -> None:
    """A snapshot every 10 s over 5 h (2 s per span): every span before the gap has a
    value; an hour without snapshots has none."""
    duration = 5 * 3600.0
    times = np.concatenate([np.arange(0, 3 * 3600, 10.0), np.arange(4 * 3600, duration, 10.0)])
    folded = fold_max(times, np.ones(times.size), duration)
    at = (np.arange(PLOT_W) + 0.5) * duration / PLOT_W
    assert np.all(np.isfinite(folded[at < 3 * 3600]))
    assert np.all(np.isnan(folded[(at > 3 * 3600 + 30) & (at < 4 * 3600 - 30)]))
    assert np.all(np.isfinite(folded[at > 4 * 3600 + 30]))


def test_a_span_keeps_its_highest_value() -> None:
    """Dense samples (1 s, 4 s per span): a one-second peak survives the folding."""
    times = np.arange(3600.0)
    values = np.zeros(times.size)
    values[1801] = 7.0
    folded = fold_max(times, values, 3600.0)
    assert folded.max() == 7.0 and np.count_nonzero(folded == 7.0) == 1


def test_decades_of_rarity_stop_where_a_double_has_no_more_nines() -> None:
    values = decades([0.0, 0.9, 0.999, 1.0 - 1e-12, 1.0])
    assert np.allclose(values, [0.0, 1.0, 3.0, 12.0, MAX_DECADES], atol=1e-3)
    assert MAX_DECADES == 16.0 and 1.0 - 1e-17 == 1.0


def test_a_score_of_zero_reads_zero_decades_not_minus_zero() -> None:
    assert f"{float(decades(0.0)):.1f}" == "0.0"
    assert not np.signbit(decades([0.0, 0.5])).any()
