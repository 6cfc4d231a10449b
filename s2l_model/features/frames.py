"""Per-video-frame speech windows for the mouth predictor: phoneme posteriors, log-mel and loudness.

The paper feeds its lip field 16 DeepSpeech frames (20 ms apart, 320 ms) centred on each video frame; this
module builds the same kind of window from speaker-independent features. Video frame k shows the instant
t_k = k / fps; its window has ``window_steps`` steps whose centres lie symmetrically around t_k,

    centre_i = t_k + (i − (window_steps − 1) / 2) · 20 ms,   i = 0 … window_steps − 1,

computed from the exact fraction (25, 29.97, 23.976 and 50 fps alike), as ``speech.frame_centres`` does
for the log-mel windows. Each step carries, in this channel order:

- **phoneme probabilities** (191, ``features/phonemes.py``) linearly interpolated at the step centre
  between the recogniser's own 50 Hz steps (rows still sum to 1);
- **log-mel** (80, ``MelConfig``): the mel power of the two 25 ms Hann frames at the step centre ± 5 ms
  (the two 10 ms-hop frames of ``speech.py`` that fall inside the 20 ms step, so the step's audio is fully
  covered), averaged, scaled by the utterance's level-normalising gain², then log(· + 1e-5) (so the floor
  sits at the same depth under every utterance's speech); normalised **per utterance**: minus the
  utterance's per-band mean, over its one global std;
- **loudness** (1): the RMS level of the step's 20 ms in dB, minus the utterance's reference level (the 95th
  percentile step level), over 30 dB, clipped to [−2, 0.5]: 0 is the utterance's loud speech, −1 is 30 dB
  below it (the silence gate's threshold in ``activity.py``), −2 is silence.

Per utterance, not per training speaker: a new voice, microphone or gain is normalised by its own
statistics. The statistics (``UtteranceStats``) are taken over the utterance's *speech* steps only (those
less than 30 dB below the reference, as the silence gate decides), so leading silence or long pauses do not
shift them, in one streaming pass (``utterance_stats``). The recogniser's input and the mel power are
scaled to put the reference at ``REFERENCE_DBFS`` first: hama is not gain-invariant, and this makes every
channel independent of the recording's gain (test: +12 dB changes nothing).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from s2l_model.features.activity import BELOW_LOUD_DB, LOUD_PERCENTILE
from s2l_model.features.phonemes import (
    N_LABELS,
    STEP_SAMPLES,
    PhonemeRecognizer,
    PosteriorStream,
    Recognizer,
    bilabial_labels,
)
from s2l_model.features.speech import MelConfig, SampleReader, array_reader
from s2l_model.media.audio import Speech

STEP_HALF = STEP_SAMPLES // 2
MEL_OFFSET = 80  # the step's two mel frames sit at its centre ± 5 ms
LEVEL_FLOOR_DB = -100.0  # digital silence; such steps are left out of the statistics
LOUDNESS_SCALE_DB = 30.0
LOUDNESS_CLIP = (-2.0, 0.5)
#: Every utterance is scaled to put its reference (95th percentile step level) here before the log-mel and
#: the recogniser (hama is not gain-invariant, and the log floor is then relative to the speech): about the
#: level of the shared speech clips (−6 … −18 dBFS; english_60s.wav −13.7), so typical input is barely
#: scaled. Measured: moving it from −30 to −3 dBFS changes the argmax of only 2-3 % of steps.
REFERENCE_DBFS = -14.0
STATS_CHUNK_STEPS = 1000  # 20 s of audio per read in the statistics pass

# Level histogram of the statistics pass: fine bins for the percentile, coarse bins for the mel sums.
_HIST_LO, _HIST_HI, _HIST_BIN = LEVEL_FLOOR_DB, 20.0, 0.1
_MEL_BIN = 1.0
_LOGP_LO, _LOGP_BIN, _LOGP_BINS = -40.0, 0.25, 192  # raw log mel power −40 … +8 nats


@dataclass(frozen=True)
class FeatureConfig:
    phonemes: bool = True  # False: the mel-only ablation (hama is then never loaded)
    mel: bool = True
    window_steps: int = 16  # 20 ms steps: 320 ms centred on the frame, like the paper's 16 DeepSpeech frames
    mel_config: MelConfig = field(default_factory=MelConfig)
    chunk_frames: int = 256  # video frames featurised at a time (memory flat in the speech's length)
    phoneme_chunk_s: float = 20.0
    phoneme_context_s: float = 1.0

    @property
    def dim(self) -> int:
        return N_LABELS * self.phonemes + self.mel_config.n_mels * self.mel + 1

    @property
    def loudness_channel(self) -> int:
        return self.dim - 1


@dataclass(frozen=True)
class UtteranceStats:
    mel_mean: (
        np.ndarray
    )  # (n_mels,) per-band mean of the 20 ms log-mel (at the utterance's gain), speech steps
    mel_std: float  # one std over all bands and speech steps (keeps the spectral tilt between bands)
    reference_db: float  # 95th percentile level of the speech steps, dBFS (LEVEL_FLOOR_DB: digital silence)
    speech_steps: int  # how many steps the statistics were taken over


def _hann(config: MelConfig) -> np.ndarray:
    return np.hanning(config.win_length + 1)[:-1].astype(np.float32)  # periodic, as speech.py


def _step_mel_power(
    signal: np.ndarray, centres: np.ndarray, config: MelConfig, basis: np.ndarray, window: np.ndarray
) -> np.ndarray:
    """(*centres.shape, n_mels) mel power of the 20 ms steps centred on ``centres`` (indices into
    ``signal``, which must hold 280 samples either side of every centre)."""
    import scipy.fft

    # At frame rates on the 20 ms grid (25, 50 fps) neighbouring windows share their steps: each distinct
    # centre is computed once (8x fewer FFTs at 25 fps); at 29.97 fps nearly every centre is distinct.
    unique, inverse = np.unique(centres, return_inverse=True)
    half = config.win_length // 2
    index = np.arange(config.win_length)
    power = np.zeros((len(unique), config.n_mels), np.float32)
    for offset in (-MEL_OFFSET, MEL_OFFSET):
        segments = signal[(unique + offset - half)[:, None] + index] * window
        spectrum = scipy.fft.rfft(segments, n=config.n_fft, axis=-1)
        power += (spectrum.real**2 + spectrum.imag**2) @ basis.T
    return (power / 2)[inverse.reshape(centres.shape)]


def _step_level_db(signal: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """RMS level in dBFS of the 20 ms [c − 10 ms, c + 10 ms) of each centre, floored at −100 dB."""
    cumulative = np.concatenate([[0.0], np.cumsum(np.square(signal, dtype=np.float64))])
    mean = (cumulative[centres + STEP_HALF] - cumulative[centres - STEP_HALF]) / STEP_SAMPLES
    return (10 * np.log10(np.maximum(mean, 10 ** (LEVEL_FLOOR_DB / 10)))).astype(np.float32)


def utterance_gain(reference_db: float) -> float:
    """The amplitude factor that puts an utterance's reference level at ``REFERENCE_DBFS`` (1 for silence)."""
    return 1.0 if reference_db <= LEVEL_FLOOR_DB else float(10 ** ((REFERENCE_DBFS - reference_db) / 20))


def utterance_stats(read: SampleReader, n_samples: int, config: MelConfig | None = None) -> UtteranceStats:
    """The utterance's normalisation statistics, in one streaming pass over its samples (20 s reads).

    Every 20 ms step (centred on 320·j, the recogniser's grid) adds its level to a 0.1 dB histogram, and
    each band's raw log mel power to a (1 dB level bin × band × 0.25-nat) histogram. At the end the
    reference is the 95th percentile level of the speech steps, and the mel statistics are those of
    log(power · gain² + floor) (the features' definition, at the level-normalising gain found only now)
    over the steps above reference − 30 dB, read from the histogram. Exactly gain-invariant but for the
    bins' width; memory: ~3 MB, whatever the length.
    """
    config = config or MelConfig()
    basis, window = config.filterbank(), _hann(config)
    n_fine = round((_HIST_HI - _HIST_LO) / _HIST_BIN)
    n_coarse = round((_HIST_HI - _HIST_LO) / _MEL_BIN)
    counts = np.zeros(n_fine, np.int64)
    mel_hist = np.zeros(n_coarse * config.n_mels * _LOGP_BINS, np.int64)
    margin = MEL_OFFSET + config.win_length // 2
    n_steps = n_samples // STEP_SAMPLES + 1 if n_samples > 0 else 0
    for lo in range(0, n_steps, STATS_CHUNK_STEPS):
        hi = min(n_steps, lo + STATS_CHUNK_STEPS)
        first = lo * STEP_SAMPLES - margin
        signal = read(first, (hi - 1) * STEP_SAMPLES + margin)
        centres = np.arange(lo, hi) * STEP_SAMPLES - first
        level = _step_level_db(signal, centres)
        voiced = level > LEVEL_FLOOR_DB
        if not voiced.any():
            continue
        level = np.minimum(level[voiced], _HIST_HI - 1e-3)
        power = _step_mel_power(signal, centres[voiced], config, basis, window)
        counts += np.bincount(((level - _HIST_LO) / _HIST_BIN).astype(np.int64), minlength=n_fine)
        coarse = ((level - _HIST_LO) / _MEL_BIN).astype(np.int64)
        logp = np.log(np.maximum(power, 1e-30))
        logp_bin = np.clip(((logp - _LOGP_LO) / _LOGP_BIN).astype(np.int64), 0, _LOGP_BINS - 1)
        flat = (coarse[:, None] * config.n_mels + np.arange(config.n_mels)) * _LOGP_BINS + logp_bin
        mel_hist += np.bincount(flat.ravel(), minlength=len(mel_hist))
    total = int(counts.sum())
    if total == 0:  # digital silence: nothing to normalise by; the features then read as silence
        return UtteranceStats(
            np.full(config.n_mels, np.log(config.floor), np.float32), 1.0, LEVEL_FLOOR_DB, 0
        )
    # The 95th percentile of all steps moves with the share of silence; refined on the steps above the
    # previous estimate − 30 dB (the speech), it is that of the speech alone (3 rounds: converged to a bin).
    levels = _HIST_LO + (np.arange(n_fine) + 0.5) * _HIST_BIN
    reference = LEVEL_FLOOR_DB
    for _ in range(3):
        above = np.where(levels > reference - BELOW_LOUD_DB, counts, 0)
        rank = np.searchsorted(np.cumsum(above), LOUD_PERCENTILE / 100 * above.sum())
        reference = float(levels[rank])
    keep = np.arange(n_coarse) * _MEL_BIN + _HIST_LO >= np.floor(reference - BELOW_LOUD_DB)
    hist = mel_hist.reshape(n_coarse, config.n_mels, _LOGP_BINS)[keep].sum(axis=0)  # (n_mels, bins)
    gain2 = utterance_gain(reference) ** 2
    centres_logp = _LOGP_LO + (np.arange(_LOGP_BINS) + 0.5) * _LOGP_BIN
    values = np.log(np.exp(centres_logp) * gain2 + config.floor)  # the features' log-mel of each bin
    n = hist.sum(axis=1)
    mean = (hist * values).sum(axis=1) / n
    variance = (hist * values**2).sum(axis=1) / n - mean**2
    std = float(np.sqrt(max(float(variance.mean()), 1e-4)))
    return UtteranceStats(mean.astype(np.float32), std, float(reference), int(n[0]))


def step_centres(frames: range, fps: Fraction, window_steps: int, sample_rate: int) -> np.ndarray:
    """(len(frames), window_steps) float64 exact centre (in samples) of every step of the frames' windows:
    symmetric around k · sample_rate / fps, 20 ms apart."""
    offsets = (np.arange(window_steps) - (window_steps - 1) / 2) * (sample_rate // 50)
    frame_samples = np.arange(frames.start, frames.stop, dtype=np.float64) * (
        sample_rate * fps.denominator / fps.numerator
    )
    return frame_samples[:, None] + offsets[None, :]


def _scaled(read: SampleReader, gain: float) -> SampleReader:
    if gain == 1.0:
        return read
    return lambda start, stop: read(start, stop) * np.float32(gain)


class FrameFeatures:
    """Windows of any video frames of one speech, read and computed ``chunk_frames`` at a time."""

    def __init__(
        self,
        read: SampleReader,
        n_samples: int,
        fps: Fraction,
        config: FeatureConfig = FeatureConfig(),
        stats: UtteranceStats | None = None,
        recognizer: Recognizer | None = None,
        ahead: int = 0,
    ) -> None:
        """``ahead``: phoneme chunks computed ahead in a background thread (``PosteriorStream``); a caller
        that walks forward through the frames, as a dub does, then rarely waits for the recogniser."""
        if config.mel_config.sample_rate != 50 * STEP_SAMPLES:
            raise ValueError("the speech features run at 16 kHz")
        self.read, self.n_samples, self.fps, self.config = read, n_samples, Fraction(fps), config
        self.stats = stats or utterance_stats(read, n_samples, config.mel_config)
        self._basis, self._window = config.mel_config.filterbank(), _hann(config.mel_config)
        self.gain = utterance_gain(self.stats.reference_db)
        self.posteriors: PosteriorStream | None = None
        if config.phonemes:
            gain = self.gain
            self.posteriors = PosteriorStream(
                _scaled(read, gain),
                n_samples,
                chunk_s=config.phoneme_chunk_s,
                context_s=config.phoneme_context_s,
                recognizer=recognizer or PhonemeRecognizer(),
                ahead=ahead,
            )

    def close(self) -> None:
        """Stop computing ahead (the windows can still be read)."""
        if self.posteriors is not None:
            self.posteriors.close()

    def windows(self, frames: range) -> np.ndarray:
        """(len(frames), window_steps, dim) float32 windows of consecutive video frames ``frames``."""
        out = np.empty((len(frames), self.config.window_steps, self.config.dim), np.float32)
        step = self.config.chunk_frames
        for lo in range(0, len(frames), step):
            part = range(frames.start + lo, frames.start + min(len(frames), lo + step))
            out[lo : lo + len(part)] = self._chunk(part)
        return out

    def iter_windows(self, n_frames: int) -> Iterator[np.ndarray]:
        """The windows of frames 0 … n_frames − 1, ``chunk_frames`` at a time."""
        for lo in range(0, n_frames, self.config.chunk_frames):
            yield self.windows(range(lo, min(n_frames, lo + self.config.chunk_frames)))

    def _chunk(self, frames: range) -> np.ndarray:
        cfg, stats = self.config, self.stats
        exact = step_centres(frames, self.fps, cfg.window_steps, cfg.mel_config.sample_rate)
        centres = np.round(exact).astype(np.int64)
        margin = MEL_OFFSET + cfg.mel_config.win_length // 2
        first = int(centres.min()) - margin
        signal = self.read(first, int(centres.max()) + margin)
        parts = []
        if self.posteriors is not None:
            position = exact / STEP_SAMPLES  # in recogniser steps (step j is centred on sample 320·j)
            below = np.floor(position).astype(np.int64)
            frac = (position - below)[..., None].astype(np.float32)
            j0 = int(below.min())
            probs = self.posteriors.steps(j0, int(below.max()) + 2)
            parts.append((1 - frac) * probs[below - j0] + frac * probs[below - j0 + 1])
        if cfg.mel:
            power = _step_mel_power(signal, centres - first, cfg.mel_config, self._basis, self._window)
            mel = np.log(power * np.float32(self.gain**2) + cfg.mel_config.floor)
            parts.append((mel - stats.mel_mean) / np.float32(stats.mel_std))
        level = _step_level_db(signal, centres - first)
        loudness = np.clip((level - stats.reference_db) / LOUDNESS_SCALE_DB, *LOUDNESS_CLIP)
        parts.append(loudness[..., None])
        return np.concatenate(parts, axis=-1).astype(np.float32)


def bilabial_channels(config: FeatureConfig, recognizer: PhonemeRecognizer | None = None) -> np.ndarray:
    """(config.dim,) float32: 1 on the phoneme channels of bilabial phones, else 0 (all 0 without
    phonemes)."""
    mask = np.zeros(config.dim, np.float32)
    if config.phonemes:
        labels = (recognizer or PhonemeRecognizer()).labels
        mask[: len(labels)] = bilabial_labels(labels)
    return mask


def frame_features(
    speech: Speech, fps: Fraction, n_frames: int | None = None, config: FeatureConfig = FeatureConfig()
) -> np.ndarray:
    """(n_frames, window_steps, dim) windows of an in-memory speech; ``n_frames`` defaults to
    round(duration × fps), the frame count of a video of this speech."""
    if speech.sample_rate != config.mel_config.sample_rate:
        raise ValueError(
            f"speech is {speech.sample_rate} Hz; features expect {config.mel_config.sample_rate} Hz"
        )
    if n_frames is None:
        n_frames = round(speech.duration * fps)
    features = FrameFeatures(array_reader(speech.samples), len(speech.samples), fps, config)
    return features.windows(range(n_frames))
