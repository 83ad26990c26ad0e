"""Tiny runs for `evaluate baseline`: FEMTO-like snapshots and folders of clips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile

RATE = 25_600
SNAPSHOTS, ONSET = 300, 240  # the fault starts at snapshot 240, 10 s apart


def failing_run(path: Path) -> Path:
    """Healthy noise, then a growing impact train from ONSET to the end (the failure)."""
    rng = np.random.default_rng(11)
    t = np.arange(2560) / RATE
    windows = []
    for i in range(SNAPSHOTS):
        window = 0.3 * rng.standard_normal(2560)
        if i >= ONSET:
            window += (0.5 + 0.05 * (i - ONSET)) * (np.sin(2 * np.pi * 3_000 * t) > 0.98)
        windows.append(window)
    np.savez(path, x=np.array(windows, np.float16), t_s=10.0 * np.arange(SNAPSHOTS), fs=RATE)
    return path


def stepped_run(path: Path, loud: list[int]) -> Path:
    """A healthy run of SNAPSHOTS windows, twice as loud at the snapshots in `loud`."""
    rng = np.random.default_rng(7)
    windows = 0.3 * rng.standard_normal((SNAPSHOTS, 2560))
    windows[loud] *= 2.0
    np.savez(path, x=windows.astype(np.float16), t_s=10.0 * np.arange(SNAPSHOTS), fs=RATE)
    return path


def healthy_clips(folder: Path, count: int = 60, seed: int = 5) -> Path:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        soundfile.write(folder / f"clip_{i:03d}.wav", 0.1 * rng.standard_normal(8000), 8000)
    return folder
