"""tools/soak.py: its verdict on synthetic series, and a short real run's CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tools.soak import COLUMNS, fit_second_half, growth_failures, limits_with, main

ROOT = Path(__file__).resolve().parents[1]


def series(
    minutes: float,
    every_s: float = 5.0,
    speed: float = 2.0,
    **metrics: Callable[[float], float],
) -> list[dict[str, float]]:
    """Rows every `every_s` over `minutes`; each metric a function of elapsed seconds."""
    rng = np.random.default_rng(0)
    rows = []
    for t in np.arange(every_s, minutes * 60 + every_s / 2, every_s):
        row = dict.fromkeys(COLUMNS, 0.0)
        row.update(elapsed_s=float(t), speed=speed, rss_mb=300.0, fds=33.0, threads=27.0,
                   loop_lag_p99_ms=80.0 + rng.normal(0, 30))  # fmt: skip
        row.update({name: float(f(float(t))) for name, f in metrics.items()})
        rows.append(row)
    return rows


def test_flat_noisy_run_passes() -> None:
    noise = np.random.default_rng(1)
    assert growth_failures(series(30, rss_mb=lambda t: 300 + noise.normal(0, 3))) == []


def test_rss_steps_of_a_flat_run_pass() -> None:
    """Allocator arenas grow and shrink in steps: up 2 MB, back down, no trend."""
    assert growth_failures(series(90, rss_mb=lambda t: 319 + 2 * ((t // 600) % 2))) == []


def test_a_slow_rss_climb_per_plant_hour_fails_and_reports_its_slope() -> None:
    """1.1 MB per plant-hour at speed 4 (4.4 MB per wall-hour): well below the old wall-clock
    limit of 30 MB/h, above 0.5 MB per plant-hour."""
    noise = np.random.default_rng(2)

    def climbing(t: float) -> float:
        return 319 + 4.4 * t / 3600 + noise.normal(0, 0.2)

    rows = series(90, every_s=10, speed=4, rss_mb=climbing)
    fit = fit_second_half(rows, "rss_mb", plant=True)
    assert fit.slope == pytest.approx(1.1, abs=0.1)
    failures = growth_failures(rows)
    assert [f.split()[0] for f in failures] == ["rss_mb"]
    assert failures[0].startswith("rss_mb grows 1.09/plant-h")
    assert growth_failures(rows, limits_with(1.5)) == []  # the limit is configurable


def test_the_same_climb_per_sample_is_judged_alike_at_every_speed() -> None:
    """A leak per sample grows per wall-hour with the speed; per plant-hour it does not."""
    for speed in (1, 4, 16):

        def climbing(t: float, s: float = speed) -> float:
            return 300 + 3 * s * t / 3600

        rows = series(60, every_s=10, speed=speed, rss_mb=climbing)
        assert fit_second_half(rows, "rss_mb", plant=True).slope == pytest.approx(3.0)
        assert [f.split()[0] for f in growth_failures(rows)] == ["rss_mb"]
        assert growth_failures(rows, limits_with(3.5)) == []


def test_warm_up_growth_in_the_first_half_is_forgiven() -> None:
    def warming(t: float) -> float:
        return 250 + min(t, 600.0) / 600 * 60  # +60 MB over the first 10 minutes, then flat

    rows = series(30, rss_mb=warming, threads=lambda t: 20 + (t > 60) * 7)
    assert growth_failures(rows) == []


def test_a_leak_in_the_second_half_fails_naming_the_metric() -> None:
    leak = series(30, rss_mb=lambda t: 300 + t / 60 * 1.0, fds=lambda t: 33 + t // 120)
    failures = growth_failures(leak)
    assert [f.split()[0] for f in failures] == ["rss_mb", "fds"]
    assert "grows 30.00/plant-h" in failures[0]  # 60 MB per wall-hour at speed 2


def test_a_growing_backlog_or_loop_lag_fails() -> None:
    rows = series(30, outbox_pending=lambda t: t / 10, loop_lag_p99_ms=lambda t: 50 + t / 5)
    assert [f.split()[0] for f in growth_failures(rows)] == ["loop_lag_p99_ms", "outbox_pending"]


def test_too_short_a_run_is_not_judged_a_pass() -> None:
    assert growth_failures(series(0.4))[0].startswith("too few samples")


def test_judge_reads_a_written_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "soak.csv"
    rows = series(30, fds=lambda t: 33 + t // 60)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["--judge", str(path)]) == 1
    out = capsys.readouterr().out
    assert "fds 33 -> 63" in out
    assert "rss_mb slope over the second half: +0.00 (±0.00) MB per plant-hour" in out
    assert "verdict: FAIL\n  fds grows" in out


def test_judge_takes_the_speed_of_a_csv_that_does_not_record_it_nor_tasks(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "soak.csv"
    rows = series(90, every_s=10, speed=4, rss_mb=lambda t: 319 + 4.4 * t / 3600)
    with path.open("w", newline="") as f:
        older = [c for c in rows[0] if c not in ("speed", "tasks")]  # columns added later
        writer = csv.DictWriter(f, older, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert main(["--judge", str(path), "--speed", "4"]) == 1
    out = capsys.readouterr().out
    assert "6.00 plant-hours" in out
    assert "verdict: FAIL\n  rss_mb grows 1.10/plant-h" in out
    assert main(["--judge", str(path), "--speed", "4", "--max-rss-slope", "2"]) == 0


@pytest.mark.slow
@pytest.mark.timeout(400)  # 20 s of soak, plus model loading on a busy machine
def test_short_soak_writes_every_column_and_a_verdict(
    tmp_path: Path, broker: tuple[str, int], topic_prefix: str
) -> None:
    out = tmp_path / "soak.csv"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "soak.py"), "--duration", "20", "--every", "2",
         "--csv", str(out), "--broker-host", broker[0], "--broker-port", str(broker[1]),
         "--prefix", topic_prefix],
        capture_output=True, text=True, timeout=360, check=False,
    )  # fmt: skip
    assert result.returncode in (0, 1), result.stderr[-2000:]
    with out.open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == COLUMNS
    assert 8 <= len(rows) <= 11
    assert float(rows[-1]["elapsed_s"]) >= 19
    assert all(
        float(r["rss_mb"]) > 50 and int(r["fds"]) > 3 and int(r["threads"]) > 1 for r in rows
    )
    assert int(rows[-1]["events_delivered"]) <= int(rows[-1]["events_created"])
    verdict = [line for line in result.stdout.splitlines() if line.startswith("verdict: ")]
    passed = "verdict: PASS (nothing grows over the second half)"
    assert verdict == [passed if result.returncode == 0 else "verdict: FAIL"]
