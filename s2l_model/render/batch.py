"""The one render loop: footage frames + their poses + speech → frames with new lips, a fixed batch at a time.

``s2l dub``, re-voicing and the held-out renderer all render through ``render_frames``. Output frame
k = 0 … N-1 shows footage frame ``footage[k]`` behind it and says the speech at k / fps. Each face layer
(one per actor) gives new lips to the output frames where it is live; the others pass through untouched
(the same array). Several layers are composed one after another, each changing only its own blend region.

Batches are fixed, output frames [0, B), [B, 2B), …: the compositor's window size (and so its float
rounding) depends on the frames batched together, and fixed batches keep every output a function of the
inputs alone, whichever frames are live.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from s2l_model.features.frames import FeatureConfig, FrameFeatures
from s2l_model.features.speech import SampleReader
from s2l_model.features.vad import silero_activity
from s2l_model.render.compose import FramePoses, LipCompositor

#: Poses and times of footage frames: (B,) footage indices → their ``FramePoses``.
PosesOf = Callable[[np.ndarray], FramePoses]
#: Progress after each batch: (output frames done, output frames in all).
BatchFn = Callable[[int, int], None]


@dataclass(frozen=True)
class SpeechFrames:
    """Speech as the output frames hear it: output frame k says what ``read`` (16 kHz samples, read on
    demand) holds at k / ``fps``; ``activity`` (N,) float32 in [0, 1] is each frame's speech weight, the
    silence gate (0: the resting lips, closed and still)."""

    read: SampleReader
    fps: Fraction
    activity: np.ndarray
    n_samples: int = 0  # the speech's length (its per-utterance feature statistics cover all of it)
    _features: dict[FeatureConfig, FrameFeatures] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def gated(
        cls,
        read: SampleReader,
        n_frames: int,
        fps: Fraction,
        sample_rate: int,
        n_samples: int,
        prefetch: Iterable[FeatureConfig | None] = (),
    ) -> SpeechFrames:
        """The speech (``n_samples`` long) of ``n_frames`` output frames at ``fps``, with its speech
        activity. The phoneme posteriors of the feature windows in ``prefetch`` (``LipCompositor.hears``;
        None: nothing to hear) start now in a background thread and keep a chunk ahead of the frames asked
        for (``PosteriorStream``): the recogniser runs while the activity is found and the frames render,
        not between batches. Call ``close`` when done."""
        features = {
            config: FrameFeatures(read, n_samples, fps, config, ahead=1)
            for config in dict.fromkeys(prefetch)
            if config is not None
        }
        return cls(read, fps, silero_activity(read, n_frames, fps, sample_rate), n_samples, features)

    def close(self) -> None:
        """Stop computing any features ahead."""
        for features in self._features.values():
            features.close()

    def features(self, config: FeatureConfig) -> FrameFeatures:
        """The speech's feature windows as ``config`` hears them, made once (and shared by every face
        that hears them the same way)."""
        if config not in self._features:
            self._features[config] = FrameFeatures(self.read, self.n_samples, self.fps, config)
        return self._features[config]


@dataclass(frozen=True)
class FaceLayer:
    """One face's new lips: its compositor, the poses of the footage frames it appears in, the output
    frames it is rendered in (``live`` (N,) bool: tracked, and wanted) and, when given, how strongly
    (``weights`` (N,) in [0, 1], cross-faded with the frame below; None: the new lips replace it)."""

    compositor: LipCompositor
    poses_of: PosesOf
    live: np.ndarray
    weights: np.ndarray | None = None
    #: (B,) footage indices → (B, K) mouth codes that replace the ones predicted from speech (the
    #: renderer-alone check feeds the footage's own true codes); None: codes from the speech
    codes_of: Callable[[np.ndarray], np.ndarray] | None = None


@dataclass(frozen=True)
class RenderJob:
    """Output frames 0 … N-1: ``footage`` (N,) int64 is the footage frame behind each, ``layers`` the faces
    given new lips (in order), ``batch`` the frames composed at a time."""

    layers: Sequence[FaceLayer]
    footage: np.ndarray
    speech: SpeechFrames
    batch: int = 8

    @property
    def n_frames(self) -> int:
        return len(self.footage)


@dataclass(frozen=True)
class RenderedFrame:
    """An output frame (H, W, 3) uint8 and its (H, W) bool region of new pixels (the source's elsewhere)."""

    frame: np.ndarray
    region: np.ndarray


def render_frames(
    job: RenderJob, sources: Iterable[np.ndarray], on_batch: BatchFn | None = None
) -> Iterator[RenderedFrame]:
    """One ``RenderedFrame`` per source frame (the footage frames behind output frames 0, 1, …, as (H, W, 3)
    uint8), in order, for at most ``job.n_frames`` frames (fewer when the sources end first).

    Sources are read a batch at a time; ``on_batch`` is called once a batch's frames have all been taken."""
    decoded = iter(sources)
    n = job.n_frames
    for lo in range(0, n, job.batch):
        batch = list(itertools.islice(decoded, min(job.batch, n - lo)))
        if not batch:
            return
        yield from _render_batch(job, lo, batch)
        if on_batch is not None:
            on_batch(lo + len(batch), n)


def _render_batch(job: RenderJob, lo: int, sources: list[np.ndarray]) -> list[RenderedFrame]:
    """Output frames lo … lo + len(sources) - 1, every layer composed over the ones before it."""
    frames = list(sources)
    regions: list[np.ndarray | None] = [None] * len(frames)
    speech = job.speech
    for layer in job.layers:
        live = np.flatnonzero(layer.live[lo : lo + len(frames)])
        if not len(live):
            continue
        ks = lo + live
        composed = layer.compositor.render(
            [frames[j] for j in live],
            layer.poses_of(job.footage[ks]),
            speech.read,
            speech.fps,
            ks,
            speech.activity[ks],
            None if layer.compositor.hears is None else speech.features(layer.compositor.hears),
            None if layer.codes_of is None else layer.codes_of(job.footage[ks]),
        )
        for j, k, (frame, region) in zip(live, ks, composed, strict=True):
            if layer.weights is not None:
                frame = cross_fade(frames[j], frame, region, float(layer.weights[k]))
            frames[j] = frame
            below = regions[j]
            regions[j] = region if below is None else below | region
    return [
        RenderedFrame(frame, np.zeros(frame.shape[:2], bool) if region is None else region)
        for frame, region in zip(frames, regions, strict=True)
    ]


def cross_fade(source: np.ndarray, rendered: np.ndarray, region: np.ndarray, weight: float) -> np.ndarray:
    """``rendered`` at ``weight`` over ``source`` inside ``region`` (the source elsewhere)."""
    if weight >= 1.0:
        return rendered
    mixed = source.astype(np.float32)
    mixed[region] += weight * (rendered[region].astype(np.float32) - mixed[region])
    return np.round(mixed).astype(np.uint8)
