"""Audio preprocessing: conversion, resampling, gating, denoising and MFCC features."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import stft

from agent.senses.audio.preprocess import (
    NUMCEP,
    NoiseFloor,
    mfcc_sequence,
    normalise,
    remove_silence,
    resample,
    spectral_subtract,
    to_mono_float,
    window_features,
)
from tests.support.audio_files import noise, tone


def dominant_hz(signal: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(signal))
    return float(np.fft.rfftfreq(signal.size, 1.0 / rate)[np.argmax(spectrum)])


def test_to_mono_float_scales_integers_and_averages_channels() -> None:
    stereo = np.array([[-32768, 32767], [16384, 16384], [0, -16384]], dtype=np.int16)
    mono = to_mono_float(stereo)
    assert mono.dtype == np.float32
    np.testing.assert_allclose(mono, [0.0, 0.5, -0.25], atol=1e-4)
    assert to_mono_float(np.array([-(2**31)], dtype=np.int32))[0] == -1.0
    np.testing.assert_array_equal(to_mono_float(np.array([1.5, -2.0, 0.25])), [1.0, -1.0, 0.25])


def test_to_mono_float_rejects_odd_shapes_and_types() -> None:
    with pytest.raises(ValueError, match="channels"):
        to_mono_float(np.zeros((2, 2, 2)))
    with pytest.raises(TypeError, match="uint8"):
        to_mono_float(np.zeros(4, dtype=np.uint8))


@pytest.mark.parametrize(
    ("rate_from", "rate_to"), [(48_000, 16_000), (44_100, 16_000), (8_000, 16_000)]
)
def test_resample_keeps_duration_and_frequency(rate_from: int, rate_to: int) -> None:
    signal = tone(1000.0, 0.5, rate_from)
    out = resample(signal, rate_from, rate_to)
    assert out.dtype == np.float32
    assert out.size == pytest.approx(signal.size * rate_to / rate_from, abs=1)
    assert dominant_hz(out, rate_to) == pytest.approx(1000.0, abs=2.0)


def test_resample_same_rate_is_a_copy_and_bad_rates_fail() -> None:
    signal = tone(100.0, 0.1, 8000)
    out = resample(signal, 8000, 8000)
    np.testing.assert_array_equal(out, signal)
    assert out is not signal
    with pytest.raises(ValueError, match="positive"):
        resample(signal, 0, 8000)


def test_normalise_sets_the_peak_and_leaves_silence_alone() -> None:
    out = normalise(tone(50.0, 0.1, 8000, amplitude=0.01))
    assert np.max(np.abs(out)) == pytest.approx(0.9, rel=1e-5)
    assert np.max(np.abs(normalise(np.array([0.2, -0.4]), target_peak=0.5))) == pytest.approx(0.5)
    silent = normalise(np.zeros(100, dtype=np.float32))
    assert not np.isnan(silent).any()
    np.testing.assert_array_equal(silent, 0.0)
    assert normalise(np.zeros(0)).size == 0


def test_remove_silence_drops_the_gap_between_two_tones() -> None:
    rate = 16_000
    first, second = tone(300.0, 0.3, rate), tone(1200.0, 0.3, rate)
    gap = noise(0.4, rate, amplitude=1e-4)  # -80 dBFS
    voiced = remove_silence(np.concatenate([first, gap, second]), rate, threshold_db=-50.0)
    np.testing.assert_array_equal(voiced, np.concatenate([first, second]))


def test_remove_silence_is_relative_to_full_scale_not_the_loudest_frame() -> None:
    rate = 16_000
    quiet = tone(500.0, 0.2, rate, amplitude=0.01)  # -43 dBFS RMS
    assert remove_silence(quiet, rate, -50.0).size == quiet.size
    assert remove_silence(quiet, rate, -40.0).size == 0
    loud_then_quiet = np.concatenate([tone(500.0, 0.2, rate, amplitude=1.0), quiet])
    assert remove_silence(loud_then_quiet, rate, -50.0).size == loud_then_quiet.size
    assert remove_silence(np.zeros(0, dtype=np.float32), rate).size == 0


def test_remove_silence_judges_the_short_last_frame_on_its_own() -> None:
    rate = 1000
    signal = np.concatenate([np.zeros(20), np.full(5, 0.5)]).astype(np.float32)
    np.testing.assert_array_equal(remove_silence(signal, rate, -20.0, frame_ms=20.0), 0.5)


def band_energy(
    signal: np.ndarray, rate: int, low_hz: float, high_hz: float
) -> tuple[float, float]:
    """Energy inside and outside a band of the averaged power spectrum."""
    freqs, _, spec = stft(signal, fs=rate, nperseg=1024)
    power = np.mean(np.abs(spec) ** 2, axis=1)
    inside = (freqs >= low_hz) & (freqs <= high_hz)
    return float(power[inside].sum()), float(power[~inside].sum())


def test_spectral_subtraction_removes_stationary_noise_and_keeps_the_tone() -> None:
    rate = 16_000
    floor = NoiseFloor(rate)
    floor.update(noise(1.0, rate, amplitude=0.05, seed=1))
    noisy = tone(1000.0, 1.0, rate, amplitude=0.3) + noise(1.0, rate, amplitude=0.05, seed=2)
    cleaned = spectral_subtract(noisy, floor)
    assert cleaned.shape == noisy.shape
    assert cleaned.dtype == np.float32
    tone_before, noise_before = band_energy(noisy, rate, 950.0, 1050.0)
    tone_after, noise_after = band_energy(cleaned, rate, 950.0, 1050.0)
    assert noise_after < noise_before / 10.0  # more than 10 dB less noise
    assert tone_after > 0.7 * tone_before
    assert dominant_hz(cleaned, rate) == pytest.approx(1000.0, abs=2.0)


def test_spectral_subtraction_does_nothing_before_learning() -> None:
    signal = noise(0.2, 16_000)
    np.testing.assert_array_equal(spectral_subtract(signal, NoiseFloor(16_000)), signal)
    floor = NoiseFloor(16_000)
    floor.update(np.zeros(16_000, dtype=np.float32))
    floor.update(noise(0.01, 16_000))  # shorter than one STFT frame
    assert floor.spectrum is None


def test_noise_floor_falls_fast_and_rises_slowly() -> None:
    rate = 16_000
    floor = NoiseFloor(rate, alpha=0.5, alpha_rise=0.05)

    def level() -> float:
        assert floor.spectrum is not None
        return float(np.sqrt(np.mean(floor.spectrum**2)))

    floor.update(noise(0.5, rate, amplitude=0.1))
    loud = level()
    floor.update(noise(0.5, rate, amplitude=0.01))
    assert level() == pytest.approx(0.55 * loud, rel=0.1)
    quiet = level()
    floor.update(noise(0.5, rate, amplitude=0.1))
    assert quiet < level() < 1.6 * quiet


def test_noise_floor_learns_from_the_quietest_frames() -> None:
    rate = 16_000
    quiet_then_loud = np.concatenate([noise(0.5, rate, 0.01), noise(1.5, rate, 0.1, seed=1)])
    floor, reference = NoiseFloor(rate), NoiseFloor(rate)
    floor.update(quiet_then_loud)
    reference.update(noise(0.5, rate, 0.01))
    assert floor.spectrum is not None and reference.spectrum is not None
    ratio = np.sqrt(np.mean(floor.spectrum**2) / np.mean(reference.spectrum**2))
    assert ratio == pytest.approx(1.0, abs=0.2)


def test_mfcc_sequence_shape_keeps_the_spectral_envelope() -> None:
    low = mfcc_sequence(tone(300.0, 1.0, 48_000), 48_000, 16_000)
    high = mfcc_sequence(tone(3000.0, 1.0, 48_000), 48_000, 16_000)
    assert low.dtype == np.float32
    assert low.shape == (99, NUMCEP)  # 1 + ceil((16000 - 400) / 160) rows of 10 ms
    # steady tones of different pitch must stay apart: no per-window normalisation erases them
    gap = np.linalg.norm(low.mean(axis=0)[1:] - high.mean(axis=0)[1:])
    assert gap > 5 * max(low.std(axis=0)[1:].mean(), high.std(axis=0)[1:].mean())


def test_mfcc_sequence_is_deterministic_and_rate_independent() -> None:
    signal = tone(440.0, 0.5, 16_000) + noise(0.5, 16_000, 0.05)
    first = mfcc_sequence(signal, 16_000, 16_000)
    np.testing.assert_array_equal(first, mfcc_sequence(signal.copy(), 16_000, 16_000))
    at_8k = mfcc_sequence(resample(signal, 16_000, 8000), 8000, 16_000)
    assert at_8k.shape == first.shape


def test_mfcc_sequence_of_less_than_one_frame_is_empty() -> None:
    assert mfcc_sequence(np.zeros(100, dtype=np.float32), 16_000, 16_000).shape == (0, NUMCEP)
    assert mfcc_sequence(np.zeros(0, dtype=np.float32), 16_000, 16_000).shape == (0, NUMCEP)


def test_window_features_gate_then_mfcc() -> None:
    rate = 16_000
    sound = tone(440.0, 0.5, rate) + noise(0.5, rate, 0.05)
    with_gap = np.concatenate([sound, np.zeros(rate // 2, dtype=np.float32)])
    features = window_features(with_gap, rate, 16_000, silence_db=-50.0)
    assert features.voiced_s == pytest.approx(0.5)
    np.testing.assert_array_equal(features.mfcc, mfcc_sequence(normalise(sound), rate, 16_000))
    silent = window_features(np.zeros(rate, dtype=np.float32), rate, 16_000)
    assert silent.voiced_s == 0.0
    assert silent.mfcc.shape == (0, NUMCEP)
