"""tools/soak.py: its verdict on synthetic series, and a short real run's CSV."""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tools.soak import COLUMNS, growth_failures, main

ROOT = Path(__file__).resolve().parents[1]


def series(
    minutes: float, every_s: float = 5.0, **metrics: Callable[[float], float]
) -> list[dict[str, float]]:
    """Rows every `every_s` over `minutes`; each metric a function of elapsed seconds."""
    rng = np.random.default_rng(0)
    rows = []
    for t in np.arange(every_s, minutes * 60 + every_s / 2, every_s):
        row = dict.fromkeys(COLUMNS, 0.0)
        row.update(elapsed_s=float(t), rss_mb=300.0, fds=33.0, threads=27.0,
                   loop_lag_p99_ms=80.0 + rng.normal(0, 30))  # fmt: skip
        row.update({name: float(f(float(t))) for name, f in metrics.items()})
        rows.append(row)
    return rows


def test_flat_noisy_run_passes() -> None:
    noise = np.random.default_rng(1)
    assert growth_failures(series(30, rss_mb=lambda t: 300 + noise.normal(0, 3))) == []


def test_warm_up_growth_in_the_first_half_is_forgiven() -> None:
    def warming(t: float) -> float:
        return 250 + min(t, 600.0) / 600 * 60  # +60 MB over the first 10 minutes, then flat

    rows = series(30, rss_mb=warming, threads=lambda t: 20 + (t > 60) * 7)
    assert growth_failures(rows) == []


def test_a_leak_in_the_second_half_fails_naming_the_metric() -> None:
    leak = series(30, rss_mb=lambda t: 300 + t / 60 * 1.0, fds=lambda t: 33 + t // 120)
    failures = growth_failures(leak)
    assert [f.split()[0] for f in failures] == ["rss_mb", "fds"]
    assert "grows 60.0/h" in failures[0]


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
    assert "verdict: FAIL\n  fds grows" in out


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
