"""Audio preprocessing shared by the agent and the sound-model training script.

Everything here except `NoiseFloor` is a pure, deterministic function of its arguments, so
training and inference compute identical features. `window_features` is the exact model
input pipeline: silence gate (dBFS) → peak normalisation → MFCC. Feature scaling belongs
to the model: training bakes its feature mean/std into the exported graph, because per-window
CMVN would erase the steady spectral envelope that tells a worn bearing from a sound one.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from python_speech_features import mfcc
from scipy.signal import istft, resample_poly, stft

NUMCEP = 40
NFILT = 40
WINLEN_S = 0.025
WINSTEP_S = 0.010
NOISE_FRAME_S = 0.032
_DIGITAL_SILENCE = 1e-20  # mean-square STFT power below this is zero padding, not background


def to_mono_float(samples: np.ndarray) -> np.ndarray:
    """Any PCM block, [n] or [n, channels] of signed ints or floats, as mono float32 in [-1, 1].

    Integers are scaled by their full scale (int16 → /32768); channels are averaged.
    """
    data = np.asarray(samples)
    if data.ndim not in (1, 2):
        raise ValueError(f"audio must be [n] or [n, channels], got shape {data.shape}")
    if np.issubdtype(data.dtype, np.signedinteger):
        scaled = data.astype(np.float64) / -float(np.iinfo(data.dtype).min)
    elif np.issubdtype(data.dtype, np.floating):
        scaled = data.astype(np.float64)
    else:
        raise TypeError(f"unsupported audio sample type {data.dtype}")
    if scaled.ndim == 2:
        scaled = scaled.mean(axis=1)
    return np.clip(scaled, -1.0, 1.0).astype(np.float32)


def resample(signal: np.ndarray, rate_from: int, rate_to: int) -> np.ndarray:
    """Anti-aliased polyphase resampling, ratio reduced (48 kHz → 16 kHz: up 1, down 3)."""
    if rate_from <= 0 or rate_to <= 0:
        raise ValueError(f"sample rates must be positive, got {rate_from} → {rate_to}")
    data = np.asarray(signal, dtype=np.float32)
    if rate_from == rate_to or data.size == 0:
        return data.copy()
    common = math.gcd(rate_from, rate_to)
    return resample_poly(data, rate_to // common, rate_from // common).astype(np.float32)


def normalise(signal: np.ndarray, target_peak: float = 0.9) -> np.ndarray:
    """Scale to a fixed peak so the model sees the same level whatever the microphone gain."""
    data = np.asarray(signal, dtype=np.float32)
    peak = float(np.max(np.abs(data))) if data.size else 0.0
    if peak == 0.0:
        return np.zeros_like(data)
    return (data * (target_peak / peak)).astype(np.float32)


def remove_silence(
    signal: np.ndarray, rate: int, threshold_db: float = -50.0, frame_ms: float = 20.0
) -> np.ndarray:
    """Keep the frames whose RMS reaches `threshold_db` dBFS (1.0 = full scale), in order.

    Relative to full scale, not to the loudest frame: a monitor must tell a stopped machine
    from a running one, and a relative gate would keep pure background at any level.
    The last, shorter frame is judged on its own samples. Empty in, empty out.
    """
    data = np.asarray(signal, dtype=np.float32)
    if data.size == 0:
        return data.copy()
    frame = max(1, round(rate * frame_ms / 1000.0))
    starts = np.arange(0, data.size, frame)
    counts = np.diff(np.append(starts, data.size))
    mean_square = np.add.reduceat(data.astype(np.float64) ** 2, starts) / counts
    keep = mean_square >= 10.0 ** (threshold_db / 10.0)
    return data[np.repeat(keep, counts)]


def _next_pow2(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(n)))


class NoiseFloor:
    """Running estimate of the background's magnitude spectrum at one sample rate.

    Each `update` takes the quietest `quantile` of the signal's STFT frames (the moments the
    machine is least audible) and averages them in exponentially: fast (`alpha`) when they
    are quieter than the estimate, slowly (`alpha_rise`) when louder, so the floor tracks the
    quietest background heard rather than the machine itself. Digital silence is ignored.
    """

    def __init__(
        self, rate: int, quantile: float = 0.1, alpha: float = 0.5, alpha_rise: float = 0.05
    ) -> None:
        self.rate = rate
        self.nperseg = _next_pow2(round(rate * NOISE_FRAME_S))
        self.quantile = quantile
        self.alpha = alpha
        self.alpha_rise = alpha_rise
        self.spectrum: np.ndarray | None = None

    def update(self, signal: np.ndarray) -> None:
        """Learn from one signal at `rate`; shorter than one STFT frame teaches nothing."""
        data = np.asarray(signal, dtype=np.float32)
        if data.size < self.nperseg:
            return
        _, _, spec = stft(data, nperseg=self.nperseg, boundary=None, padded=False)
        magnitude = np.abs(spec)
        power = np.mean(magnitude**2, axis=0)
        audible = power > _DIGITAL_SILENCE
        if not audible.any():
            return
        magnitude, power = magnitude[:, audible], power[audible]
        quietest = np.argsort(power, kind="stable")[: max(1, int(power.size * self.quantile))]
        candidate = magnitude[:, quietest].mean(axis=1)
        if self.spectrum is None:
            self.spectrum = candidate
            return
        louder = np.mean(candidate**2) > np.mean(self.spectrum**2)
        weight = self.alpha_rise if louder else self.alpha
        self.spectrum = (1.0 - weight) * self.spectrum + weight * candidate


def spectral_subtract(
    signal: np.ndarray,
    noise_floor: NoiseFloor,
    over_subtraction: float = 2.0,
    spectral_floor: float = 0.05,
) -> np.ndarray:
    """Subtract the learned noise magnitude (Berouti: over-subtract, keep a spectral floor).

    The floor (a fraction of the original magnitude) avoids the holes that cause musical
    noise; phase is kept. Same length out; unchanged while nothing is learned yet.
    """
    data = np.asarray(signal, dtype=np.float32)
    if noise_floor.spectrum is None or data.size < noise_floor.nperseg:
        return data.copy()
    _, _, spec = stft(data, nperseg=noise_floor.nperseg)
    magnitude = np.abs(spec)
    cleaned = np.maximum(
        magnitude - over_subtraction * noise_floor.spectrum[:, None], spectral_floor * magnitude
    )
    gain = np.divide(cleaned, magnitude, out=np.zeros_like(magnitude), where=magnitude > 0)
    _, out = istft(spec * gain, nperseg=noise_floor.nperseg)
    restored = np.zeros(data.size, dtype=np.float32)
    restored[: min(out.size, data.size)] = out[: data.size]
    return restored


def mfcc_sequence(
    signal: np.ndarray, rate: int, model_rate: int, numcep: int = NUMCEP
) -> np.ndarray:
    """[T, numcep] float32 MFCC of a mono signal, one row per 10 ms, unnormalised.

    Resampled to `model_rate`; 25 ms Hamming frames, pre-emphasis 0.97, max(40, numcep) mel
    filters, nfft = next power of two ≥ the frame, lifter 22, column 0 replaced by the log frame
    energy. Shorter than one frame → [0, numcep].
    """
    data = resample(signal, rate, model_rate)
    frame = math.ceil(WINLEN_S * model_rate)
    if data.size < frame:
        return np.zeros((0, numcep), dtype=np.float32)
    features = mfcc(
        data.astype(np.float64),
        samplerate=model_rate,
        winlen=WINLEN_S,
        winstep=WINSTEP_S,
        numcep=numcep,
        nfilt=max(NFILT, numcep),
        nfft=_next_pow2(frame),
        appendEnergy=True,
        winfunc=np.hamming,
    )
    return features.astype(np.float32)


class WindowFeatures(NamedTuple):
    """The model input of one window and how much sound survived the silence gate."""

    mfcc: np.ndarray
    voiced_s: float


def window_features(
    signal: np.ndarray, rate: int, model_rate: int, silence_db: float = -50.0
) -> WindowFeatures:
    """The sound model's input for one mono window: what training and the agent both run.

    The gate runs before normalisation so it measures the real level in dBFS; normalising
    afterwards makes the model independent of microphone gain. Spectral subtraction, being
    stateful, is the caller's optional step before this.
    """
    voiced = remove_silence(signal, rate, silence_db)
    return WindowFeatures(
        mfcc=mfcc_sequence(normalise(voiced), rate, model_rate), voiced_s=voiced.size / rate
    )
