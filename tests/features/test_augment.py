"""Speech augmentation: each kind changes what it says, and says how the timeline moved."""

from __future__ import annotations

import numpy as np
import pytest

from s2l_model.features.augment import (
    KINDS,
    augment_speech,
    default_augmentations,
    speech_power,
)

SR = 16000


def click_at(seconds: float, total: float = 3.0) -> np.ndarray:
    x = np.zeros(int(total * SR), np.float32)
    c = int(seconds * SR)
    x[c - 80 : c + 80] = np.hanning(160) * np.sin(2 * np.pi * 1000 * np.arange(160) / SR)
    return x


def envelope_peak_s(x: np.ndarray) -> float:
    energy = np.convolve(x.astype(np.float64) ** 2, np.ones(160), mode="same")
    return float(np.argmax(energy)) / SR


def vowel(f0: float, formant: float, seconds: float = 1.0) -> np.ndarray:
    """A pulse train at ``f0`` through one resonance at ``formant`` Hz (bandwidth ~120 Hz)."""
    n = int(seconds * SR)
    source = np.zeros(n)
    source[:: round(SR / f0)] = 1.0
    r, theta = np.exp(-np.pi * 120 / SR), 2 * np.pi * formant / SR
    from scipy.signal import lfilter

    return (lfilter([1.0], [1, -2 * r * np.cos(theta), r * r], source) * 0.05).astype(np.float32)


def formant_of(x: np.ndarray) -> float:
    """The resonance 300-1500 Hz of an order-8 all-pole fit of the middle of ``x``."""
    import librosa

    middle = x[4000:-4000].astype(np.float64) * np.hanning(len(x) - 8000)
    response = np.abs(np.fft.rfft(librosa.lpc(middle, order=8), n=8192))
    f = np.fft.rfftfreq(8192, 1 / SR)
    band = (f > 300) & (f < 1500)
    return float(f[band][np.argmin(response[band])])


def f0_of(x: np.ndarray) -> float:
    """Fundamental by autocorrelation, 60-500 Hz."""
    x = x - x.mean()
    ac = np.correlate(x, x, mode="full")[len(x) - 1 :]
    lo, hi = SR // 500, SR // 60
    return SR / (lo + int(np.argmax(ac[lo:hi])))


@pytest.mark.parametrize(
    ("kind", "amount"), [("speed", 0.9), ("speed", 1.1), ("tempo", 0.85), ("tempo", 1.2)]
)
def test_a_click_at_1s_lands_at_1s_times_time_scale(kind, amount):
    out = augment_speech(click_at(1.0), SR, kind, amount)
    assert out.time_scale == pytest.approx(1 / amount)
    assert envelope_peak_s(out.samples) == pytest.approx(1.0 * out.time_scale, abs=0.012)
    assert len(out.samples) / SR == pytest.approx(3.0 * out.time_scale, abs=0.02)


@pytest.mark.parametrize("kind", ["pitch", "formant", "noise"])
def test_kinds_that_keep_the_timeline_keep_the_click_in_place(kind):
    amount = {"pitch": 3.0, "formant": 1.12, "noise": 20.0}[kind]
    out = augment_speech(click_at(1.0), SR, kind, amount)
    assert out.time_scale == 1.0 and len(out.samples) == 3 * SR
    assert envelope_peak_s(out.samples) == pytest.approx(1.0, abs=0.012)


def test_pitch_moves_the_fundamental_by_the_semitones():
    x = vowel(140.0, 700.0)
    up = augment_speech(x, SR, "pitch", 3.0).samples
    assert f0_of(x) == pytest.approx(140.0, rel=0.02)
    assert f0_of(up[2000:-2000]) == pytest.approx(140.0 * 2 ** (3 / 12), rel=0.03)


def test_formant_warp_moves_the_resonance_and_keeps_the_pitch():
    x = vowel(120.0, 700.0)
    out = augment_speech(x, SR, "formant", 1.15).samples
    assert f0_of(out) == pytest.approx(f0_of(x), rel=0.02)  # the harmonics stay
    assert formant_of(x) == pytest.approx(700, abs=20)
    assert formant_of(out) / formant_of(x) == pytest.approx(1.15, abs=0.04)
    lower = augment_speech(x, SR, "formant", 0.88).samples
    assert formant_of(lower) / formant_of(x) == pytest.approx(0.88, abs=0.04)


def test_noise_reaches_its_snr_against_the_speech_not_the_pauses():
    rng = np.random.default_rng(0)
    x = np.zeros(6 * SR, np.float32)
    x[SR : 2 * SR] = rng.standard_normal(SR) * 0.1  # 1 s of "speech" in 6 s
    out = augment_speech(x, SR, "noise", 10.0, seed=3)
    noise = out.samples - x
    snr = 10 * np.log10(speech_power(x, SR) / np.mean(noise.astype(np.float64) ** 2))
    assert snr == pytest.approx(10.0, abs=0.2)
    again = augment_speech(x, SR, "noise", 10.0, seed=3).samples
    np.testing.assert_array_equal(out.samples, again)  # seeded


def test_default_augmentations_are_a_short_seeded_list_of_every_kind():
    plan = default_augmentations(0)
    assert 4 <= len(plan) <= 6 and {k for k, _ in plan} == set(KINDS)
    assert default_augmentations(0) == plan and default_augmentations(1) != plan
    for kind, amount in plan:
        out = augment_speech(click_at(1.0, 2.0), SR, kind, amount)
        assert np.isfinite(out.samples).all() and np.abs(out.samples).max() <= 1.0


def test_unknown_kind_and_bad_amount_are_refused():
    with pytest.raises(ValueError, match="unknown augmentation"):
        augment_speech(click_at(1.0), SR, "reverb", 1.0)
    with pytest.raises(ValueError, match="positive"):
        augment_speech(click_at(1.0), SR, "speed", 0.0)


def test_augmented_real_speech_keeps_its_phones_for_the_recogniser():
    """bench/augment.py on 20 s: 97-99 % of the clean phone steps keep their phone (±1 step) after speed,
    tempo, formant and 18 dB noise, 95 % after 3.8 semitones of pitch (librosa's phase vocoder: 50 %,
    32 %)."""
    from s2l_model.features.frames import utterance_gain, utterance_stats
    from s2l_model.features.phonemes import PhonemeRecognizer
    from s2l_model.features.speech import array_reader
    from s2l_model.media import load_speech
    from tests.conftest import shared_file

    clean = load_speech(shared_file("speech/english_60s.wav"), max_seconds=8.2).samples[int(3.2 * SR) :]
    recognizer = PhonemeRecognizer()

    def best(x: np.ndarray) -> np.ndarray:
        gain = utterance_gain(utterance_stats(array_reader(x), len(x)).reference_db)
        return recognizer.posteriors(x * np.float32(gain)).argmax(axis=1)

    reference = best(clean)
    phone = np.flatnonzero(reference < len(recognizer.labels) - 2)
    assert len(phone) > 40
    for kind, amount in [("tempo", 1.15), ("pitch", -3.0), ("formant", 1.12)]:
        out = augment_speech(clean, SR, kind, amount)
        got = best(out.samples)
        mapped = np.round(phone * out.time_scale).astype(int)
        near = np.stack([got[np.clip(mapped + s, 0, len(got) - 1)] for s in (-1, 0, 1)])
        kept = (near == reference[phone]).any(axis=0).mean()
        assert kept > 0.8, (kind, kept)
