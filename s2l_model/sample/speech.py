"""Synthetic syllable speech with a known mouth-opening curve.

A formant synthesiser: a glottal pulse train (drifting pitch) through vowel formant resonators, with
consonant onsets (fricative noise with the mouth nearly closed, nasal hums with the lips closed),
grouped into words and phrases separated by pauses. Every sound has an articulatory target for the
mouth opening (open vowels open wide, /i/ and /u/ little, m/b/p close the lips), so the opening is a
known function of time: the ground truth for sync tests. No TTS model, no download, fully seeded.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from scipy import signal

from s2l_model.media.audio import SPEECH_SAMPLE_RATE, Speech

# Vowel: (F1, F2, F3) in Hz and mouth openness in [0, 1] (jaw drop relative to the widest vowel).
VOWELS: dict[str, tuple[tuple[float, float, float], float]] = {
    "a": ((750.0, 1200.0, 2600.0), 1.00),
    "o": ((550.0, 900.0, 2500.0), 0.70),
    "e": ((500.0, 1850.0, 2600.0), 0.55),
    "u": ((320.0, 850.0, 2300.0), 0.25),
    "i": ((290.0, 2250.0, 3000.0), 0.20),
}
# Onset consonants: kind and the mouth openness while it sounds.
ONSETS: dict[str, tuple[str, float]] = {
    "m": ("nasal", 0.0),
    "b": ("plosive", 0.0),
    "s": ("fricative", 0.12),
    "f": ("fricative", 0.05),
    "": ("none", 0.0),
}

#: Time constant of the jaw (s): the mouth follows its articulatory target with this inertia.
JAW_TIME_CONSTANT = 0.035


@dataclass(frozen=True)
class SyntheticSpeech:
    """A synthetic utterance and its ground truth."""

    speech: Speech
    #: mouth openness in [0, 1] at every audio sample (smoothed articulatory target)
    openness: np.ndarray
    #: the sound sequence: (start s, end s, label)
    segments: tuple[tuple[float, float, str], ...]

    def openness_at_frames(self, fps: Fraction, n_frames: int | None = None) -> np.ndarray:
        """Openness at each video frame's timestamp k / fps (mean over that frame's audio)."""
        sr = self.speech.sample_rate
        n = n_frames if n_frames is not None else round(self.speech.duration * fps)
        edges = np.round(np.arange(n + 1) * sr / float(fps)).astype(np.int64)
        edges = np.clip(edges, 0, len(self.openness))
        csum = np.concatenate([[0.0], np.cumsum(self.openness, dtype=np.float64)])
        counts = np.maximum(edges[1:] - edges[:-1], 1)
        return ((csum[edges[1:]] - csum[edges[:-1]]) / counts).astype(np.float32)


def _resonate(x: np.ndarray, freq: float, bandwidth: float, sr: int) -> np.ndarray:
    """Second-order resonator (one formant), unit gain at DC removed by the caller's pre-emphasis."""
    r = np.exp(-np.pi * bandwidth / sr)
    theta = 2 * np.pi * freq / sr
    a = [1.0, -2 * r * np.cos(theta), r * r]
    b = [1.0 - r]
    return signal.lfilter(b, a, x)


def _glottal(n: int, f0: np.ndarray, sr: int) -> np.ndarray:
    """Band-limited-ish glottal source: a sawtooth with soft edges following the pitch contour f0."""
    phase = np.cumsum(f0 / sr)
    saw = 2.0 * (phase - np.floor(phase)) - 1.0
    return signal.lfilter([1.0, -0.97], [1.0], saw)[:n]  # pre-emphasis: a brighter, more voice-like spectrum


def _at_rms(x: np.ndarray, rms: float) -> np.ndarray:
    """Scale a sound to a given RMS level (resonator gains vary wildly with bandwidth)."""
    level = float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0
    return x * (rms / level) if level > 0 else x


# Levels (RMS, before the final normalisation) as in real speech: vowels loudest, fricatives ~15 dB down.
VOWEL_RMS, NASAL_RMS, BURST_RMS, FRICATIVE_RMS = 0.2, 0.07, 0.08, 0.035


def _envelope(n: int, sr: int, attack: float = 0.02, release: float = 0.03) -> np.ndarray:
    env = np.ones(n)
    na, nr = min(n // 2, int(attack * sr)), min(n // 2, int(release * sr))
    if na:
        env[:na] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, na))
    if nr:
        env[-nr:] = 0.5 + 0.5 * np.cos(np.linspace(0, np.pi, nr))
    return env


def synthesize_speech(
    seconds: float = 24.0, *, seed: int = 0, sample_rate: int = SPEECH_SAMPLE_RATE, lead_silence: float = 0.6
) -> SyntheticSpeech:
    """Make ``seconds`` of syllable speech (phrases and pauses) with its mouth-openness ground truth."""
    rng = np.random.default_rng(seed)
    sr = sample_rate
    total = round(seconds * sr)
    audio = np.zeros(total)
    target = np.zeros(total)  # articulatory target of the openness; silence = closed mouth
    segments: list[tuple[float, float, str]] = []
    base_f0 = rng.uniform(105, 135)
    t = lead_silence
    end_limit = seconds - 0.5
    while t < end_limit:
        for _word in range(rng.integers(2, 6)):  # one phrase
            for _syl in range(rng.integers(1, 4)):  # one word
                onset = rng.choice(list(ONSETS), p=[0.2, 0.15, 0.15, 0.1, 0.4])
                vowel = rng.choice(list(VOWELS))
                kind, onset_open = ONSETS[onset]
                onset_len = {"nasal": 0.07, "plosive": 0.05, "fricative": 0.08, "none": 0.0}[kind]
                vowel_len = rng.uniform(0.11, 0.26)
                if t + onset_len + vowel_len > end_limit:
                    break
                i0 = int(t * sr)
                # onset
                n_on = int(onset_len * sr)
                if kind == "nasal":
                    f0 = np.full(n_on, base_f0)
                    hum = _resonate(_glottal(n_on, f0, sr), 250.0, 100.0, sr)
                    audio[i0 : i0 + n_on] += _at_rms(hum, NASAL_RMS) * _envelope(n_on, sr, 0.01, 0.01)
                elif kind == "plosive":  # closure (silence) then a short burst
                    nb = int(0.012 * sr)
                    burst = _resonate(rng.standard_normal(nb), 1200.0, 800.0, sr)
                    audio[i0 + n_on - nb : i0 + n_on] += _at_rms(burst, BURST_RMS) * _envelope(
                        nb, sr, 0.002, 0.006
                    )
                elif kind == "fricative":
                    noise = rng.standard_normal(n_on)
                    band = signal.sosfilt(
                        signal.butter(4, [3500, min(7000, sr / 2 - 100)], "bandpass", fs=sr, output="sos"),
                        noise,
                    )
                    audio[i0 : i0 + n_on] += _at_rms(band, FRICATIVE_RMS) * _envelope(n_on, sr, 0.015, 0.01)
                target[i0 : i0 + n_on] = onset_open
                if onset:
                    segments.append((t, t + onset_len, onset))
                t += onset_len
                # vowel nucleus
                i1, n_v = int(t * sr), int(vowel_len * sr)
                formants, openness = VOWELS[vowel]
                drift = base_f0 * (1.0 + 0.08 * np.sin(2 * np.pi * rng.uniform(0.5, 2) * np.arange(n_v) / sr))
                src = _glottal(n_v, drift, sr)
                voiced = sum(
                    _resonate(src, f, 60.0 + 0.06 * f, sr) * g
                    for f, g in zip(formants, (1.0, 0.6, 0.3), strict=True)
                )
                loud = rng.uniform(0.7, 1.0) * (0.6 + 0.4 * openness)  # open vowels are louder
                audio[i1 : i1 + n_v] += _at_rms(voiced, loud * VOWEL_RMS) * _envelope(n_v, sr)
                target[i1 : i1 + n_v] = openness * rng.uniform(0.85, 1.0)
                segments.append((t, t + vowel_len, vowel))
                t += vowel_len
            t += rng.uniform(0.03, 0.12)  # between words
            if t >= end_limit:
                break
        t += rng.uniform(0.35, 0.9)  # pause between phrases
        base_f0 = rng.uniform(105, 135)

    # The jaw cannot jump: first-order lag towards the target (forward and backward = zero phase).
    alpha = 1.0 - np.exp(-1.0 / (JAW_TIME_CONSTANT * sr))
    smooth = signal.filtfilt([alpha], [1.0, alpha - 1.0], target)
    audio = audio / (np.max(np.abs(audio)) + 1e-9) * 0.7  # about -3 dBFS peak
    audio += rng.standard_normal(total) * 1e-4  # a faint noise floor, like a real recording
    return SyntheticSpeech(
        speech=Speech(samples=audio.astype(np.float32), sample_rate=sr),
        openness=np.clip(smooth, 0.0, 1.0).astype(np.float32),
        segments=tuple(segments),
    )
