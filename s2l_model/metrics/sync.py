"""Profile-free audio-visual sync: does the mouth open and close with the speech?

Two measures, both on the per-frame mouth opening from the face mesh (inner-lip gap / mouth width) and
both searched over audio offsets of -15..+15 frames as SyncNet does:

* **envelope** (any language): Pearson correlation between the mouth opening and the speech's log energy
  in the 300-3000 Hz band (where lip aperture shapes the spectrum most), one value per video frame;
* **phones** (English): separation d' between the mouth opening on frames whose phone is an open vowel and
  on frames whose phone is p/b/m, (mean_open - mean_closed) / pooled standard deviation.

Each reports ``score`` at offset 0 (what a viewer sees), the ``offset`` where the measure peaks and a
``confidence`` = peak - median over all offsets (SyncNet's definition transposed to a similarity). Sign
convention: a positive offset means the audio comes *later* than the lips, i.e. lips at frame t match
the speech at frame t + offset.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from s2l_model.media.audio import Speech
from s2l_model.metrics import finite_or_none
from s2l_model.metrics.phones import CLOSED, OPEN, lip_targets, recognise_phones

MAX_OFFSET = 15  # frames each way, SyncNet's search range
ENVELOPE_BAND_HZ = (300.0, 3000.0)
ENVELOPE_FLOOR_DB = 50.0  # energies more than this below the loudest frame count as this quiet
MIN_LABELLED = 8  # frames of each class the phone measure needs


@dataclass(frozen=True)
class SyncScore:
    name: str
    score: float  # at offset 0; NaN when undefined (too little speech or face)
    offset: int  # frames, where the curve peaks
    confidence: float  # peak minus the median over offsets
    curve: np.ndarray  # (2 * max_offset + 1,) value per offset, offsets -max..+max

    def to_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "score": finite_or_none(self.score),
            "offset_frames": self.offset,
            "confidence": finite_or_none(self.confidence),
            "curve": [finite_or_none(v) for v in self.curve],
        }


def speech_envelope(speech: Speech, fps: float, n_frames: int) -> np.ndarray:
    """(n_frames,) band energy in dB (relative to the loudest frame) of the speech under each video frame.

    Each frame's window spans its own display interval [t / fps, (t + 1) / fps). Frames past the end of
    the speech are NaN.
    """
    rate = speech.sample_rate
    hop = rate / fps
    size = round(hop)
    spectrum_freqs = np.fft.rfftfreq(size, 1 / rate)
    band = (spectrum_freqs >= ENVELOPE_BAND_HZ[0]) & (spectrum_freqs <= ENVELOPE_BAND_HZ[1])
    window = np.hanning(size)
    energy = np.full(n_frames, np.nan)
    for t in range(n_frames):
        start = round(t * hop)
        chunk = speech.samples[start : start + size]
        if len(chunk) < size:
            break
        spectrum = np.abs(np.fft.rfft(chunk * window)) ** 2
        energy[t] = spectrum[band].sum()
    db = 10 * np.log10(np.maximum(energy, 1e-20))
    db[np.isnan(energy)] = np.nan
    if np.isfinite(db).any():
        db -= np.nanmax(db)
        db = np.maximum(db, -ENVELOPE_FLOOR_DB)
    return db


def offset_curve(
    visual: np.ndarray,
    audio: np.ndarray,
    measure: Callable[[np.ndarray, np.ndarray], float],
    max_offset: int = MAX_OFFSET,
) -> np.ndarray:
    """measure(visual[t], audio[t + k]) over the frames where both exist, for k = -max..+max."""
    n = min(len(visual), len(audio))
    curve = np.full(2 * max_offset + 1, np.nan)
    for i, k in enumerate(range(-max_offset, max_offset + 1)):
        t0, t1 = max(0, -k), min(n, n - k)
        if t1 - t0 < 3:
            continue
        v, a = visual[t0:t1], audio[t0 + k : t1 + k]
        keep = np.isfinite(v) & np.isfinite(a)
        curve[i] = measure(v[keep], a[keep])
    return curve


def summarise_curve(name: str, curve: np.ndarray, max_offset: int = MAX_OFFSET) -> SyncScore:
    """A score per offset -max..+max → the value at 0, the peak's offset, peak minus median."""
    if not np.isfinite(curve).any():
        return SyncScore(name, float("nan"), 0, float("nan"), curve)
    peak = int(np.nanargmax(curve))
    return SyncScore(
        name=name,
        score=float(curve[max_offset]),
        offset=peak - max_offset,
        confidence=float(curve[peak] - np.nanmedian(curve)),
        curve=curve,
    )


def _pearson(v: np.ndarray, a: np.ndarray) -> float:
    if len(v) < 3 or v.std() == 0 or a.std() == 0:
        return float("nan")
    return float(np.corrcoef(v, a)[0, 1])


def envelope_sync(opening: np.ndarray, speech: Speech, fps: float, max_offset: int = MAX_OFFSET) -> SyncScore:
    """Correlation of the mouth opening with the speech energy envelope (see the module doc)."""
    envelope = speech_envelope(speech, fps, len(opening))
    return summarise_curve("envelope", offset_curve(opening, envelope, _pearson, max_offset), max_offset)


def _separation(v: np.ndarray, labels: np.ndarray) -> float:
    opened, closed = v[labels == OPEN], v[labels == CLOSED]
    if len(opened) < MIN_LABELLED or len(closed) < MIN_LABELLED:
        return float("nan")
    pooled = np.sqrt((opened.var() + closed.var()) / 2)
    return float((opened.mean() - closed.mean()) / max(pooled, 1e-9))


def phone_sync(
    opening: np.ndarray,
    speech: Speech,
    fps: float,
    max_offset: int = MAX_OFFSET,
    *,
    targets: np.ndarray | None = None,
) -> SyncScore:
    """Open-vowel vs p/b/m separation of the mouth opening (English; see the module doc).

    ``targets`` (per-frame lip targets) skips the phone recogniser when the caller already has them.
    """
    if targets is None:
        targets = lip_targets(recognise_phones(speech), fps, len(opening))
    labels = np.where(targets == 0, np.nan, targets.astype(float))
    return summarise_curve("phones", offset_curve(opening, labels, _separation, max_offset), max_offset)
