"""Per-video-frame feature windows: aligned at any frame rate, normalised per utterance, streamed flat."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import numpy as np
import pytest

from s2l_model.features.frames import (
    FeatureConfig,
    FrameFeatures,
    frame_features,
    step_centres,
    utterance_stats,
)
from s2l_model.features.phonemes import N_LABELS, STEP_SAMPLES, PhonemeRecognizer
from s2l_model.features.speech import array_reader
from s2l_model.media import Speech
from s2l_model.sample import synthesize_speech

SR = 16000
NTSC = Fraction(30000, 1001)


class OneHotRecognizer:
    """Step j is label j mod 191 with certainty: interpolation between steps is then readable by eye."""

    def posteriors(self, samples: np.ndarray) -> np.ndarray:
        steps = len(samples) // STEP_SAMPLES + 1
        return np.eye(N_LABELS, dtype=np.float32)[np.arange(steps) % N_LABELS]


class LocalRecognizer:
    """Cheap stand-in with hama's interface for the hour: each step from its own 20 ms of audio."""

    def posteriors(self, samples: np.ndarray) -> np.ndarray:
        steps = len(samples) // STEP_SAMPLES + 1
        padded = np.zeros(steps * STEP_SAMPLES, np.float32)
        padded[: len(samples)] = samples
        energy = np.log1p(np.square(padded).reshape(steps, STEP_SAMPLES).sum(axis=1))
        logits = energy[:, None] * np.linspace(-1, 1, N_LABELS, dtype=np.float32)
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)


class NoRecognizer:
    def posteriors(self, samples: np.ndarray) -> np.ndarray:
        raise AssertionError("the mel-only features must not run the recogniser")


def noise_bursts(seed: int = 7):
    """A ``SampleReader`` of endless seeded noise bursts, made on the fly one second at a time (the same
    samples for every read of a position; nothing is kept)."""

    def second(b: int) -> np.ndarray:
        rng = np.random.default_rng([seed, b])
        x = rng.standard_normal(SR).astype(np.float32) * np.float32(rng.uniform(0.01, 0.2))
        on = int(rng.uniform(0.0, 0.5) * SR)
        x[:on] = 0.0
        x[on + int(rng.uniform(0.2, 0.5) * SR) :] = 0.0
        return x

    def read(start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start, np.float32)
        for b in range(max(start, 0) // SR, max(stop - 1, 0) // SR + 1):
            lo, hi = max(start, b * SR), min(stop, (b + 1) * SR)
            if hi > lo:
                out[lo - start : hi - start] = second(b)[lo - b * SR : hi - b * SR]
        return out

    return read


def test_step_centres_at_2997_fps_are_symmetric_around_the_frame_time():
    centres = step_centres(range(3, 5), NTSC, 16, SR)
    # frame 3 shows t = 3 · 1001 / 30000 s = 0.1001 s = 1601.6 samples; steps 20 ms = 320 samples apart
    assert centres[0, 7] == pytest.approx(1601.6 - 160) and centres[0, 8] == pytest.approx(1601.6 + 160)
    assert centres[0, 0] == pytest.approx(1601.6 - 7.5 * 320) and centres[0, 15] == pytest.approx(4001.6)
    times = np.array([[3], [4]]) * SR * 1001 / 30000
    assert np.allclose(centres[:, ::-1] + centres, 2 * times)  # mirror pairs average to the frame time
    assert centres[1, 7] - centres[0, 7] == pytest.approx(16000 * 1001 / 30000)  # 533.87, not 533.33


@pytest.mark.parametrize("fps", [Fraction(25), NTSC, Fraction(24000, 1001), Fraction(50)])
def test_a_click_at_frame_k_is_loudest_in_the_two_middle_steps(fps):
    x = np.zeros(10 * SR, np.float32)
    frames = [11, 97, 203]
    for k in frames:
        c = round(k * SR * fps.denominator / fps.numerator)
        x[c - 40 : c + 40] = np.hanning(80) * 0.5
    windows = frame_features(Speech(x, SR), fps, config=FeatureConfig(phonemes=False))
    assert windows.shape == (round(10 * fps), 16, 81)
    for k in frames:
        loud, mel = windows[k, :, -1], windows[k, :, :80].max(axis=1)
        assert sorted(np.argsort(mel)[-2:].tolist()) == [7, 8] and mel[7] == pytest.approx(mel[8], abs=0.3)
        assert loud[7] > -0.5 and loud[8] > -0.5 and loud[:6].max() == -2.0


def test_phoneme_probabilities_are_interpolated_at_the_step_centres():
    x = np.random.default_rng(0).standard_normal(4 * SR).astype(np.float32) * 0.1
    features = FrameFeatures(array_reader(x), len(x), NTSC, recognizer=OneHotRecognizer())
    window = features.windows(range(3, 4))[0, :, :N_LABELS]
    # step 7 of frame 3 is centred on sample 1441.6 = recogniser step 4.505: 49.5 % of label 4, 50.5 % of 5
    assert window[7, 4] == pytest.approx(0.495, abs=1e-5) and window[7, 5] == pytest.approx(0.505, abs=1e-5)
    # step 8 on 1761.6 = step 5.505
    assert window[8, 5] == pytest.approx(0.495, abs=1e-5) and window[8, 6] == pytest.approx(0.505, abs=1e-5)
    np.testing.assert_allclose(window.sum(axis=1), 1.0, atol=1e-6)


def test_features_are_the_same_at_12_db_more_gain():
    speech = synthesize_speech(5.0, seed=2).speech
    quiet = frame_features(speech, Fraction(25))
    loud = frame_features(Speech(speech.samples * np.float32(10 ** (12 / 20)), SR), Fraction(25))
    mel = slice(N_LABELS, N_LABELS + 80)
    speaking = quiet[:, :, -1] > -1.0
    assert np.abs(loud[:, :, mel] - quiet[:, :, mel])[speaking].mean() < 0.01
    assert np.abs(loud[:, :, -1] - quiet[:, :, -1]).max() < 0.01  # loudness is relative to the utterance
    assert np.abs(loud[:, :, :N_LABELS] - quiet[:, :, :N_LABELS]).max() < 0.05  # hama hears the same level
    stats_quiet = utterance_stats(array_reader(speech.samples), len(speech.samples))
    stats_loud = utterance_stats(array_reader(speech.samples * 10 ** (12 / 20)), len(speech.samples))
    assert stats_loud.reference_db - stats_quiet.reference_db == pytest.approx(12.0, abs=0.11)
    np.testing.assert_allclose(stats_loud.mel_mean, stats_quiet.mel_mean, atol=0.02)
    assert stats_loud.mel_std == pytest.approx(stats_quiet.mel_std, rel=0.01)


def test_statistics_ignore_silence_around_the_speech():
    speech = synthesize_speech(5.0, seed=4).speech.samples
    padded = np.concatenate([np.zeros(10 * SR, np.float32), speech, np.full(10 * SR, 1e-4, np.float32)])
    a = utterance_stats(array_reader(speech), len(speech))
    b = utterance_stats(array_reader(padded), len(padded))
    assert b.reference_db == pytest.approx(a.reference_db, abs=0.11)
    np.testing.assert_allclose(b.mel_mean, a.mel_mean, atol=0.05)
    assert b.mel_std == pytest.approx(a.mel_std, rel=0.02)


def test_mel_only_ablation_never_runs_the_recogniser_and_silence_is_silence():
    x = np.zeros(2 * SR, np.float32)
    x[SR // 2 : SR] = np.random.default_rng(0).standard_normal(SR // 2) * 0.1
    config = FeatureConfig(phonemes=False)
    assert config.dim == 81 and FeatureConfig().dim == 272 and FeatureConfig(mel=False).dim == 192
    features = FrameFeatures(array_reader(x), len(x), Fraction(25), config, recognizer=NoRecognizer())
    windows = features.windows(range(-10, 80))  # before the start and past the end: silence
    assert windows.shape == (90, 16, 81)
    assert (windows[:5, :, -1] == -2.0).all() and (windows[-5:, :, -1] == -2.0).all()
    assert windows[10 + 19, 8, -1] > -0.2  # inside the noise burst


def _peak_bytes(seconds: int) -> int:
    n = seconds * SR
    tracemalloc.start()
    try:
        features = FrameFeatures(noise_bursts(), n, Fraction(25), recognizer=LocalRecognizer())
        n_frames = seconds * 25
        last = None
        for lo in range(0, n_frames, 256):
            last = features.windows(range(lo, min(n_frames, lo + 256)))
        assert last is not None and np.isfinite(last).all()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_the_feature_extractor_streams_hour_long_speech_with_flat_memory():
    _peak_bytes(30)  # imports and the filterbank, outside the measurement
    six_minutes, hour = _peak_bytes(360), _peak_bytes(3600)
    assert hour < 1.3 * six_minutes and hour < 120e6, (six_minutes, hour)


def test_real_recogniser_through_the_streaming_path():
    speech = synthesize_speech(6.0, seed=5).speech
    config = FeatureConfig(chunk_frames=40, phoneme_chunk_s=2.0, phoneme_context_s=1.0)
    read = array_reader(speech.samples)
    features = FrameFeatures(read, len(speech.samples), Fraction(25), config)
    pieces = np.concatenate(list(features.iter_windows(150)))
    whole = FrameFeatures(read, len(speech.samples), Fraction(25), config).windows(range(150))
    np.testing.assert_array_equal(pieces, whole)  # the frame chunking changes nothing
    assert features.posteriors is not None and features.posteriors.runs == 3 + 1  # 2 s chunks + last step
    # the phoneme channels follow one whole-file run (gain-normalised input) within the chunking tolerance
    gain = 10 ** ((-14.0 - features.stats.reference_db) / 20)
    reference = PhonemeRecognizer().posteriors(speech.samples * np.float32(gain))
    # Frame k at 25 fps is recogniser step 2k; its window steps 7 and 8 sit at steps 2k ∓ 0.5, so their mean
    # is 1/4, 1/2, 1/4 of steps 2k − 1, 2k, 2k + 1.
    middle = (whole[:, 7, :N_LABELS] + whole[:, 8, :N_LABELS]) / 2
    k = np.arange(150) * 2
    expected = 0.25 * reference[np.maximum(k - 1, 0)] + 0.5 * reference[k] + 0.25 * reference[k + 1]
    tv = 0.5 * np.abs(middle[1:] - expected[1:]).sum(axis=1)
    assert tv.mean() < 0.1, tv.mean()
