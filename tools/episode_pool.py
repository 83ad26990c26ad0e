"""The media pool of tools/make_episodes.py: each frame or clip written once, shared by episodes.

Files live under DIR/pool/<split>/ and are named by what they hold, so a name always means the
same bytes: a file's content depends only on its name and the build's seed, never on which
episode asked for it first. Episodes reference them as ../../pool/<split>/...
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile as sf

from tools.episode_sources import NeuImage

THERMAL_SHAPE = (60, 80)  # rows, columns: a Lepton 2.5-class radiometric core
THERMAL_NOISE_C = 0.2  # sensor noise, one standard deviation
THERMAL_NOISE_FIELDS = 4  # noise realisations per scene: frames repeat, their files too
CENTI_KELVIN = {"a": 0.01, "b": -273.15}  # deg C = a * raw + b


@dataclass(frozen=True, slots=True)
class Scene:
    """What one device's thermal camera looks at: a motor housing with a bearing at its edge."""

    number: int
    ambient_c: float
    housing_c: float  # the running housing's excess over ambient at its centre
    housing_xy: tuple[float, float]  # centre, pixels
    bearing_xy: tuple[float, float]


def thermal_celsius(
    scene: Scene, ambient_c: float, load_c: float, spot_c: float, noise: int, seed: int
) -> np.ndarray:
    """Ambient with a vertical gradient, the housing (warmer under load), the bearing's spot."""
    height, width = THERMAL_SHAPE
    yy, xx = np.mgrid[:height, :width].astype(np.float64)
    rng = np.random.default_rng([seed, scene.number, noise])
    temps = ambient_c + 1.5 * yy / height + rng.normal(0.0, THERMAL_NOISE_C, THERMAL_SHAPE)
    hx, hy = scene.housing_xy
    temps += (scene.housing_c + load_c) * np.exp(-(((xx - hx) / 18) ** 2 + ((yy - hy) / 14) ** 2))
    bx, by = scene.bearing_xy
    return temps + spot_c * np.exp(-(((xx - bx) / 4) ** 2 + ((yy - by) / 4) ** 2))


def raw_counts(temps_c: np.ndarray) -> np.ndarray:
    """Inverse of CENTI_KELVIN, as 16-bit radiometric counts."""
    return np.round((temps_c - CENTI_KELVIN["b"]) / CENTI_KELVIN["a"]).astype(np.uint16)


def mixed(normal: np.ndarray, fault: np.ndarray, share: float) -> np.ndarray:
    """A fault's clip at `share` of its level over the healthy clip's remaining share."""
    length = min(len(normal), len(fault))
    blend = (1.0 - share) * normal[:length].astype(np.float64) + share * fault[:length]
    return np.clip(np.round(blend), -32768, 32767).astype(np.int16)


class Pool:
    """Writes media on first use under DIR/pool/<split>/ and returns paths relative to DIR."""

    def __init__(self, root: Path, split: str, seed: int) -> None:
        self.root = root
        self.split = split
        self.seed = seed
        self.written: set[str] = set()

    def _target(self, relative: str) -> tuple[str, Path, bool]:
        """(path relative to DIR, absolute path, whether it must still be written)."""
        name = f"pool/{self.split}/{relative}"
        path = self.root / name
        fresh = name not in self.written
        if fresh:
            self.written.add(name)
            path.parent.mkdir(parents=True, exist_ok=True)
        return name, path, fresh

    def copy(self, source: Path, folder: str) -> str:
        """A source file byte for byte (NEU-DET defect images, UESTC clips)."""
        name, path, fresh = self._target(f"{folder}/{source.name}")
        if fresh:
            shutil.copyfile(source, path)
        return name

    def crop(self, image: NeuImage, gain: float) -> str:
        """The image's box-free rectangle at its own scale (lossless PNG), brightness x gain."""
        if image.free is None:
            raise ValueError(f"{image.path}: no box-free rectangle")
        folder = "image/free" if gain == 1.0 else f"image/free-x{gain:g}"
        name, path, fresh = self._target(f"{folder}/{image.path.stem}.png")
        if fresh:
            x1, y1, x2, y2 = image.free
            frame = cv2.imread(str(image.path), cv2.IMREAD_COLOR)
            if frame is None:
                raise ValueError(f"{image.path}: cannot decode image")
            lit = np.round(frame[y1:y2, x1:x2] * gain)
            write_image(path, np.clip(lit, 0, 255).astype(np.uint8))
        return name

    def thermal(
        self, scene: Scene, ambient_c: float, load_c: float, spot_c: float, noise: int
    ) -> str:
        """A radiometric frame; temperatures are quantised (0.5 degC, 1 degC) so frames repeat."""
        ambient_dc, load, spot = round(ambient_c * 2) * 5, round(load_c), round(spot_c)
        key = f"a{ambient_dc:03d}_l{load}_s{spot:02d}_n{noise}"
        name, path, fresh = self._target(f"thermal/scene{scene.number}/{key}.png")
        if fresh:
            temps = thermal_celsius(scene, ambient_dc / 10, load, spot, noise, self.seed)
            write_image(path, raw_counts(temps))
        return name

    def mix(self, normal: Path, fault: Path, share: float, folder: str) -> str:
        """A subtle fault: the fault clip at `share` (0..1) mixed into a healthy clip."""
        stem = f"{normal.stem}+{fault.parent.name}-{fault.stem}x{share:.3f}"
        name, path, fresh = self._target(f"{folder}/{stem}.wav")
        if fresh:
            (a, rate), (b, _) = sf.read(normal, dtype="int16"), sf.read(fault, dtype="int16")
            sf.write(path, mixed(a, b, share), rate, subtype="PCM_16")
        return name

    def louder(self, clip: Path, gain_db: float, folder: str) -> str:
        """A healthy clip at a higher gain: a remounted sensor or a louder process nearby."""
        name, path, fresh = self._target(f"{folder}/{clip.stem}+{gain_db:g}dB.wav")
        if fresh:
            samples, rate = sf.read(clip, dtype="int16")
            scaled = np.round(samples * 10 ** (gain_db / 20))
            sf.write(path, np.clip(scaled, -32768, 32767).astype(np.int16), rate, "PCM_16")
        return name


def write_image(path: Path, frame: np.ndarray) -> None:
    if not cv2.imwrite(str(path), frame):
        raise OSError(f"cannot write {path}")
