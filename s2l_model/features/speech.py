"""Log-mel windows centred on each video frame.

Video frame k shows the instant t_k = k / fps (its timestamp). Its speech feature is a window of
``window_frames`` log-mel frames whose centres lie symmetrically around t_k, ``hop`` samples apart:

    centre_i = t_k + (i - (window_frames - 1) / 2) · hop / sample_rate,   i = 0 … window_frames - 1

Each STFT frame is cut at its own centre (rounded to the nearest sample, ≤ 31 µs at 16 kHz) instead of
being looked up on a fixed 10 ms grid, so windows line up exactly for any rate: 25, 29.97 (30000/1001),
23.976 or 50 fps alike. Outside the signal the speech is taken as silence.

Defaults (documented in docs/DESIGN.md): 16 kHz, n_fft 512, 25 ms Hann window (400 samples), hop 10 ms
(160 samples), 80 mel bands 55-7600 Hz (Slaney), 16 mel frames per window (160 ms of context), natural
log of the mel power + 1e-5.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from s2l_model.media.audio import SPEECH_SAMPLE_RATE, Speech


@dataclass(frozen=True)
class MelConfig:
    sample_rate: int = SPEECH_SAMPLE_RATE
    n_fft: int = 512
    win_length: int = 400
    hop: int = 160
    n_mels: int = 80
    fmin: float = 55.0
    fmax: float = 7600.0
    window_frames: int = 16
    floor: float = 1e-5

    def filterbank(self) -> np.ndarray:
        import librosa.filters

        return librosa.filters.mel(
            sr=self.sample_rate, n_fft=self.n_fft, n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax
        ).astype(np.float32)


def frame_centres(n_frames: int, fps: Fraction, config: MelConfig = MelConfig()) -> np.ndarray:
    """(n_frames, window_frames) centre sample index of every STFT frame of every video frame's window."""
    offsets = (np.arange(config.window_frames) - (config.window_frames - 1) / 2) * config.hop
    # Exact rational frame times: k · sr · den / num, rounded once at the end.
    frame_samples = np.arange(n_frames, dtype=np.float64) * (
        config.sample_rate * fps.denominator / fps.numerator
    )
    return np.round(frame_samples[:, None] + offsets[None, :]).astype(np.int64)


def speech_windows(
    speech: Speech, fps: Fraction, n_frames: int | None = None, config: MelConfig = MelConfig()
) -> np.ndarray:
    """(n_frames, window_frames, n_mels) float32 log-mel windows, one per video frame.

    ``n_frames`` defaults to round(duration × fps), the frame count of a video of this speech.
    """
    if speech.sample_rate != config.sample_rate:
        raise ValueError(f"speech is {speech.sample_rate} Hz; features expect {config.sample_rate} Hz")
    if n_frames is None:
        n_frames = round(speech.duration * fps)
    centres = frame_centres(n_frames, fps, config)
    half = config.win_length // 2
    # Silence before the start and after the end, as far as the first and last windows reach.
    left = max(0, half - int(centres.min()))
    right = max(0, int(centres.max()) - half + config.win_length - len(speech.samples))
    signal = np.pad(speech.samples.astype(np.float32, copy=False), (left, right))
    starts = centres - half + left
    window = np.hanning(config.win_length + 1)[:-1].astype(np.float32)  # periodic Hann
    basis = config.filterbank()
    out = np.empty((n_frames, config.window_frames, config.n_mels), dtype=np.float32)
    chunk = 256  # video frames at a time: memory stays flat for hours of speech
    index = np.arange(config.win_length)
    for lo in range(0, n_frames, chunk):
        hi = min(n_frames, lo + chunk)
        segments = signal[starts[lo:hi, :, None] + index] * window  # (chunk, W, win)
        power = np.abs(np.fft.rfft(segments, n=config.n_fft, axis=-1)) ** 2
        out[lo:hi] = np.log(power @ basis.T + config.floor)
    return out
