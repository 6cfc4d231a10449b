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

from collections.abc import Callable
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


def frame_centres(
    n_frames: int, fps: Fraction, config: MelConfig = MelConfig(), first: int = 0
) -> np.ndarray:
    """(n_frames, window_frames) centre sample index of every STFT frame of the windows of video frames
    ``first`` … ``first + n_frames - 1``."""
    offsets = (np.arange(config.window_frames) - (config.window_frames - 1) / 2) * config.hop
    # Exact rational frame times: k · sr · den / num, rounded once at the end.
    frame_samples = np.arange(first, first + n_frames, dtype=np.float64) * (
        config.sample_rate * fps.denominator / fps.numerator
    )
    return np.round(frame_samples[:, None] + offsets[None, :]).astype(np.int64)


SampleReader = Callable[[int, int], np.ndarray]  # (start, stop) → float32 samples, zeros outside the signal


def array_reader(samples: np.ndarray) -> SampleReader:
    """A ``SampleReader`` over samples in memory."""

    def read(start: int, stop: int) -> np.ndarray:
        out = np.zeros(stop - start, np.float32)
        lo, hi = max(start, 0), min(stop, len(samples))
        if hi > lo:
            out[lo - start : hi - start] = samples[lo:hi]
        return out

    return read


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
    return windows_for_frames(array_reader(speech.samples), fps, range(n_frames), config)


def windows_for_frames(
    read: SampleReader, fps: Fraction, frames: range, config: MelConfig = MelConfig()
) -> np.ndarray:
    """(len(frames), window_frames, n_mels) log-mel windows of consecutive video frames, reading only the
    samples they need: a long speech is featurised a chunk of frames at a time (memory flat in length)."""
    out = np.empty((len(frames), config.window_frames, config.n_mels), dtype=np.float32)
    if not len(frames):
        return out
    half = config.win_length // 2
    window = np.hanning(config.win_length + 1)[:-1].astype(np.float32)  # periodic Hann
    basis = config.filterbank()
    index = np.arange(config.win_length)
    chunk = 256  # video frames at a time
    for lo in range(0, len(frames), chunk):
        hi = min(len(frames), lo + chunk)
        centres = frame_centres(hi - lo, fps, config, frames.start + lo)
        first = int(centres.min()) - half
        signal = read(first, int(centres.max()) - half + config.win_length)
        segments = signal[centres[:, :, None] - half - first + index] * window  # (chunk, W, win)
        power = np.abs(np.fft.rfft(segments, n=config.n_fft, axis=-1)) ** 2
        out[lo:hi] = np.log(power @ basis.T + config.floor)
    return out
