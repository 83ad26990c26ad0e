"""Build the demo's bundled sample streams from the real datasets in ../shared/data.

    python tools/make_demo_samples.py --data ../shared/data --out agent/apps/demo/samples

Writes, per demo device, what its sensors "see" over one demo loop (FAULT_AT_S marks when
pump-01's fault starts):
- camera.avi: MJPG video. Defect-free frames are box-free squares cut from held-out NEU-DET
  (val) images; pump-01's video switches to held-out defect images at the fault.
- thermal/frame_*.png: 16-bit radiometric frames (centi-kelvin), ambient 20–40 °C; on pump-01
  a bearing hot spot rises from ambient past the 60 °C threshold after the fault.
- sound.wav: CWRU vibration clips at 12 kHz from recordings the sound model never saw in
  training (runs/sound split); normal first, then an inner-race fault on pump-01.
- skab.csv: a SKAB recording replayed by the Modbus simulator (1 row = 1 sample).
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

DEMO_S = 60
FAULT_AT_S = 25
VIDEO_FPS = 5
FRAME = 200  # NEU-DET images are 200x200: the detector sees them at their own scale
THERMAL_SHAPE = (120, 160)  # a Lepton-class radiometric sensor
THERMAL_FPS = 1
# NEU-DET has no defect-free image and some faint defects are unlabelled: these box-free
# squares are the ones the shipped detector leaves alone even at confidence 0.1
CLEAN_SOURCES = ["scratches_4", "scratches_48", "scratches_105", "scratches_64"]
DEFECT_SOURCES = ["scratches_191", "inclusion_290", "patches_16", "crazing_205"]
SOUND_NORMAL = "normal/Normal_0_c03.wav"  # the normal recording's held-out second
SOUND_FAULT = ["inner_race/IR007_2", "inner_race/IR014_3"]  # held-out fault recordings
# valve-03: a held-out valve closure whose sensor score stays above 0.5 longest when a busy
# CPU polls the 20x replay at only 11-12 Hz (the baseline then spans more rows)
SKAB_FILES = {"pump-01": "other/9.csv", "motor-02": "anomaly-free/anomaly-free.csv",
              "valve-03": "valve1/10.csv"}  # fmt: skip


def clean_frame(defects: Path, stem: str) -> np.ndarray:
    """The largest box-free square of a held-out image, scaled to FRAME: steel without defects."""
    image = read_image(defects / "images" / "val" / f"{stem}.jpg")
    rows = np.loadtxt(defects / "labels" / "val" / f"{stem}.txt", ndmin=2)
    busy = np.zeros(image.shape[:2], dtype=np.bool_)
    for _, cx, cy, w, h in rows:
        x1, y1 = int((cx - w / 2) * FRAME) - 4, int((cy - h / 2) * FRAME) - 4
        x2, y2 = int((cx + w / 2) * FRAME) + 4, int((cy + h / 2) * FRAME) + 4
        busy[max(0, y1) : y2, max(0, x1) : x2] = True
    side, corner = largest_free_square(~busy)
    x, y = corner
    return cv2.resize(image[y : y + side, x : x + side], (FRAME, FRAME))


def read_image(path: Path) -> np.ndarray:
    """The image at `path`; a missing or unreadable one stops the tool, naming it."""
    image = cv2.imread(str(path))
    if image is None:
        raise SystemExit(f"{path}: not a readable image")
    return np.asarray(image)


def largest_free_square(free: np.ndarray) -> tuple[int, tuple[int, int]]:
    """Side and top-left corner of the largest all-True square (dynamic programming)."""
    size = np.zeros((free.shape[0] + 1, free.shape[1] + 1), int)
    best, corner = 0, (0, 0)
    for y in range(free.shape[0]):
        for x in range(free.shape[1]):
            if free[y, x]:
                size[y + 1, x + 1] = min(size[y, x + 1], size[y + 1, x], size[y, x]) + 1
                if size[y + 1, x + 1] > best:
                    best = size[y + 1, x + 1]
                    corner = (x - best + 1, y - best + 1)
    return best, corner


def write_video(path: Path, frames: list[np.ndarray]) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), VIDEO_FPS, (FRAME, FRAME))
    for frame in frames:
        writer.write(frame)
    writer.release()


def videos(defects: Path, out: dict[str, Path]) -> None:
    clean = [clean_frame(defects, s) for s in CLEAN_SOURCES]
    faulty = [read_image(defects / "images" / "val" / f"{s}.jpg") for s in DEFECT_SOURCES]
    per_image = VIDEO_FPS * 2  # each picture stays 2 s, like a strip passing slowly
    healthy = [clean[(i // per_image) % len(clean)] for i in range(DEMO_S * VIDEO_FPS)]
    fault_frame = FAULT_AT_S * VIDEO_FPS
    pump = healthy[:fault_frame] + [
        faulty[(i // per_image) % len(faulty)] for i in range(DEMO_S * VIDEO_FPS - fault_frame)
    ]
    write_video(out["pump-01"] / "camera.avi", pump)
    for device in ("motor-02", "valve-03"):
        write_video(out[device] / "camera.avi", healthy[: len(clean) * per_image])


def thermal_frame(t: float, ambient: float, spot_peak: float | None, seed: int) -> np.ndarray:
    """Ambient gradient and sensor noise, plus a Gaussian hot spot of `spot_peak` °C."""
    rng = np.random.default_rng(seed)
    h, w = THERMAL_SHAPE
    yy, xx = np.mgrid[:h, :w]
    temps = ambient + 3.0 * yy / h + rng.normal(0, 0.25, size=THERMAL_SHAPE)
    housing = np.exp(-(((xx - 60) / 35) ** 2 + ((yy - 70) / 30) ** 2))
    temps += 6.0 * housing  # a running motor housing is a few degrees warmer
    if spot_peak is not None:
        bearing = np.exp(-(((xx - 95) / 7) ** 2 + ((yy - 55) / 7) ** 2))
        temps += (spot_peak - ambient) * bearing
    return np.round((temps + 273.15) * 100).astype(np.uint16)


def hot_spot_peak(t: float, ambient: float) -> float:
    """Bearing temperature: ambient + 5 °C, rising from the fault to 110 °C over 20 s."""
    rise = np.clip((t - FAULT_AT_S + 5) / 20, 0, 1)
    return ambient + 5 + rise * (110 - ambient - 5)


def thermals(out: dict[str, Path]) -> None:
    ambients = {"pump-01": 31.0, "motor-02": 27.0, "valve-03": 24.0}
    for device, folder in out.items():
        frames_dir = folder / "thermal"
        frames_dir.mkdir(parents=True, exist_ok=True)
        count = DEMO_S * THERMAL_FPS if device == "pump-01" else 10
        for i in range(count):
            t = i / THERMAL_FPS
            peak = hot_spot_peak(t, ambients[device]) if device == "pump-01" else None
            frame = thermal_frame(t, ambients[device], peak, seed=i)
            cv2.imwrite(str(frames_dir / f"frame_{i:04d}.png"), frame)


def sounds(sound: Path, out: dict[str, Path]) -> None:
    normal, rate = sf.read(sound / SOUND_NORMAL, dtype="int16")
    faults = [
        sf.read(p, dtype="int16")[0]
        for stem in SOUND_FAULT
        for p in sorted((sound / stem.split("/")[0]).glob(f"{stem.split('/')[1]}_c*.wav"))
    ]
    healthy = np.tile(normal, DEMO_S)
    faulty = np.tile(np.concatenate(faults), 2)
    pump = np.concatenate([healthy[: FAULT_AT_S * rate], faulty])[: DEMO_S * rate]
    sf.write(out["pump-01"] / "sound.wav", pump, rate, subtype="PCM_16")
    for device in ("motor-02", "valve-03"):
        sf.write(out[device] / "sound.wav", healthy[: 10 * rate], rate, subtype="PCM_16")


def skab(skab_dir: Path, out: dict[str, Path]) -> None:
    for device, name in SKAB_FILES.items():
        lines = (skab_dir / name).read_text().splitlines()
        (out[device] / "skab.csv").write_text("\n".join(lines[:1301]) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("agent/apps/demo/samples"))
    args = parser.parse_args()
    shutil.rmtree(args.out, ignore_errors=True)
    out = {d: args.out / d for d in ("pump-01", "motor-02", "valve-03")}
    for folder in out.values():
        folder.mkdir(parents=True)
    videos(args.data / "defects", out)
    thermals(out)
    sounds(args.data / "sound", out)
    skab(args.data / "skab", out)


if __name__ == "__main__":
    main()
