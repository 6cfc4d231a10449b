"""Speech activity per video frame: where the mouth should move, and where it should rest.

Silence, and the quiet before and after speech, must give a closed, still mouth (a model fed room noise
mumbles). Each frame's level is the RMS of a 40 ms window centred on it; a frame speaks where its level is
above the larger of an absolute floor (-50 dBFS) and 30 dB below the speech's loud parts (its 95th
percentile level). Relative to the loud parts, not to a noise-floor estimate: continuous speech without a
pause has no noise floor to find (a percentile "floor" then sits inside the speech and gates it off). The
cost: noise less than 30 dB under the speech passes the gate, and the model decides what it looks like.
The decision is held open 120 ms after speech (so the mouth closes with the final consonant, not before
it) and softened into a 0 … 1 weight with 80 ms ramps; the renderer blends the speech-driven lips with the
profile's resting lips by this weight. Fixed in seconds and decibels, these values do not depend on any
speaker or frame rate.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from s2l_model.features.speech import SampleReader

ACTIVITY_WINDOW_S = 0.040
ABSOLUTE_FLOOR_DBFS = -50.0
BELOW_LOUD_DB = 30.0
LOUD_PERCENTILE = 95.0
HOLD_S = 0.120
RAMP_S = 0.080


def frame_levels_db(
    read: SampleReader, n_frames: int, fps: Fraction, sample_rate: int, chunk: int = 4096
) -> np.ndarray:
    """(n_frames,) RMS level in dBFS of a window centred on each frame (-inf for digital silence)."""
    half = round(ACTIVITY_WINDOW_S * sample_rate / 2)
    out = np.empty(n_frames, np.float32)
    for lo in range(0, n_frames, chunk):
        hi = min(n_frames, lo + chunk)
        centres = np.round(np.arange(lo, hi, dtype=np.float64) * float(sample_rate / fps)).astype(np.int64)
        first = int(centres[0]) - half
        signal = read(first, int(centres[-1]) + half).astype(np.float64)
        power = np.concatenate([[0.0], np.cumsum(signal * signal)])
        a = centres - half - first
        mean = (power[a + 2 * half] - power[a]) / (2 * half)
        with np.errstate(divide="ignore"):
            out[lo:hi] = 10 * np.log10(np.maximum(mean, 0.0))
    return out


def speech_activity(read: SampleReader, n_frames: int, fps: Fraction, sample_rate: int) -> np.ndarray:
    """(n_frames,) float32 speech weight in [0, 1]: 0 in silence, 1 in speech, ramps in between."""
    return activity_weights(frame_levels_db(read, n_frames, fps, sample_rate), fps)


def activity_weights(levels_db: np.ndarray, fps: Fraction) -> np.ndarray:
    """Speech weight per frame from per-frame levels (see the module's docstring)."""
    if not len(levels_db):
        return np.zeros(0, np.float32)
    finite = levels_db[np.isfinite(levels_db)]
    loud = float(np.percentile(finite, LOUD_PERCENTILE)) if len(finite) else -np.inf
    threshold = max(ABSOLUTE_FLOOR_DBFS, loud - BELOW_LOUD_DB)
    speaking = levels_db > threshold
    hold = round(HOLD_S * float(fps))
    if hold > 0 and speaking.any():  # keep open for `hold` frames after each speaking frame
        idx = np.flatnonzero(speaking)
        held = np.zeros(len(speaking) + hold + 1, np.int32)
        np.add.at(held, idx, 1)
        np.add.at(held, idx + hold + 1, -1)
        speaking = np.cumsum(held)[: len(speaking)] > 0
    ramp = max(1, round(RAMP_S * float(fps)))
    # A symmetric moving average of the 0/1 decision: linear ramps of `ramp` frames, centred on each edge.
    kernel = np.ones(ramp, np.float64) / ramp
    padded = np.pad(speaking.astype(np.float64), (ramp, ramp), mode="edge")
    smooth = np.convolve(padded, kernel, mode="same")[ramp:-ramp]
    return np.clip(smooth, 0.0, 1.0).astype(np.float32)
