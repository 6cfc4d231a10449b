"""Silero's silence gate: the energy gate's contract, and it holds where room noise fools the energy gate."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from s2l_model.features.activity import speech_activity
from s2l_model.features.speech import array_reader
from s2l_model.features.vad import silero_activity
from s2l_model.media import load_speech
from tests.conftest import shared_file

SR = 16000
FPS = Fraction(25)


def test_silero_gate_closes_in_noisy_pauses_where_the_energy_gate_stays_open():
    # the clip's speech starts at 3.1 s: take 6 s of it, and open a 3 s pause in the middle
    speech = load_speech(shared_file("speech/english_60s.wav"), max_seconds=9.2).samples[int(3.2 * SR) :]
    gap = np.zeros(3 * SR, np.float32)
    x = np.concatenate([speech[: 3 * SR], gap, speech[3 * SR :]])
    rng = np.random.default_rng(0)
    noisy = x + rng.standard_normal(len(x)).astype(np.float32) * np.float32(0.1 * np.sqrt(np.mean(speech**2)))
    n_frames = len(x) * 25 // SR
    silero = silero_activity(array_reader(noisy), n_frames, FPS, SR)
    energy = speech_activity(array_reader(noisy), n_frames, FPS, SR)
    assert silero.shape == (n_frames,) and silero.dtype == np.float32
    assert silero.min() >= 0.0 and silero.max() <= 1.0
    pause = slice(3 * 25 + 8, 6 * 25 - 8)  # the inserted 3 s, less hold and ramps
    assert silero[pause].max() == 0.0  # 20 dB SNR white noise: no speech
    assert energy[pause].min() == 1.0  # the energy gate (30 dB window) calls the noise speech
    assert (silero[:70] > 0.5).mean() > 0.8 and (silero[-70:] > 0.5).mean() > 0.8


def test_silero_gate_on_digital_silence_and_past_the_end():
    silence = np.zeros(2 * SR, np.float32)
    weights = silero_activity(array_reader(silence), 75, FPS, SR)  # 3 s asked of 2 s
    assert weights.shape == (75,) and weights.max() == 0.0
