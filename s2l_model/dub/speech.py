"""The speech to dub, streamed: decoded once to a scratch file, then read a chunk of frames at a time.

Holding an hour of speech in memory would cost 230 MB at 16 kHz (and its log-mel windows 1 GB), so the
decoded samples go to a raw float32 file in the dub's scratch folder and every consumer (the lip field's
windows, the sync expert's windows, the speech-activity gate) reads only the samples its frames need.
The exact sample count fixes the output's length: round(duration × fps) frames.

Speech activity (silence gives a closed, still mouth) is in ``features.activity``; ``SpeechTrack.heard``
hands the renderer the speech with it (``render.batch.SpeechFrames``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2l_model.features.frames import FeatureConfig
from s2l_model.media import SPEECH_SAMPLE_RATE, decode_speech
from s2l_model.render.batch import SpeechFrames


@dataclass(frozen=True)
class SpeechTrack:
    """Decoded speech on disk: ``n_samples`` float32 mono samples at 16 kHz in ``path``."""

    source: Path
    path: Path
    n_samples: int
    sample_rate: int = SPEECH_SAMPLE_RATE

    @property
    def duration(self) -> float:
        return self.n_samples / self.sample_rate

    def n_frames(self, fps: Fraction) -> int:
        """Frames of a video of this speech at ``fps``: round(duration × fps), computed exactly."""
        return round(Fraction(self.n_samples, self.sample_rate) * fps)

    @classmethod
    def decode(cls, source: str | os.PathLike[str], scratch: Path) -> SpeechTrack:
        """Decode the first audio track of ``source`` (any container, codec, rate, channels) into
        ``scratch/speech.f32``."""
        path = scratch / "speech.f32"
        n = 0
        with open(path, "wb") as out:
            for chunk in decode_speech(source):
                out.write(chunk.astype("<f4", copy=False).tobytes())
                n += len(chunk)
        return cls(source=Path(source), path=path, n_samples=n)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` … ``stop - 1`` (float32); zeros outside the signal."""
        out = np.zeros(max(0, stop - start), np.float32)
        lo, hi = max(start, 0), min(stop, self.n_samples)
        if hi > lo:
            out[lo - start : hi - start] = np.fromfile(self.path, dtype="<f4", count=hi - lo, offset=4 * lo)
        return out

    def heard(
        self, fps: Fraction, n_frames: int | None = None, prefetch: Iterable[FeatureConfig | None] = ()
    ) -> SpeechFrames:
        """This speech as ``n_frames`` video frames at ``fps`` hear it (default: a video of its own length),
        with each frame's speech activity; ``prefetch``: the feature windows computed ahead in the
        background (``SpeechFrames.gated``)."""
        n = self.n_frames(fps) if n_frames is None else n_frames
        return SpeechFrames.gated(self.read, n, fps, self.sample_rate, self.n_samples, prefetch)
