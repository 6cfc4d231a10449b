"""Footage frames of a profile rendered with any speech: what ``evaluate`` scores on the held-out frames.

The same composition as ``s2l dub`` (``LipCompositor``, with the speech-activity gate), on consecutive
frames of the profile's own footage, so the held-out figures measure what a dub produces.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from s2l_model.features.activity import speech_activity
from s2l_model.features.speech import array_reader
from s2l_model.media import Speech, iter_frames, seek_seconds
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.compose import FramePoses, LipCompositor


class ProfileRenderer:
    """Renders footage frames of a profile with any speech (a ``FrameRenderer`` for ``evaluate``)."""

    def __init__(
        self, profile: SpeakerProfile, footage: Path, *, device: str = "cpu", batch: int = 8
    ) -> None:
        self.profile, self.footage, self.batch = profile, footage, batch
        a = profile.arrays
        self.usable = a["usable"].astype(bool)
        self.rotations = np.nan_to_num(a["rotations"]).astype(np.float32)
        self.translations = np.nan_to_num(a["translations"]).astype(np.float32)
        self.compositor = LipCompositor(
            profile.model,
            self.rotations[self.usable],
            self.translations[self.usable],
            rest_seconds=profile.canonical_seconds,
            device=torch.device(device),
        )

    def render(self, frames: Sequence[int], speech: Speech) -> Iterator[np.ndarray]:
        for frame, _ in self.render_with_regions(frames, speech):
            yield frame

    def render_with_regions(
        self, frames: Sequence[int], speech: Speech
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, region) per index of ``frames`` (consecutive): ``region`` is the (H, W) bool mask of
        re-rendered pixels (everything else is the source pixel). ``speech`` starts at the first frame."""
        fps = self.profile.fps
        frames = list(frames)
        if not frames:
            return
        start = frames[0]
        if frames != list(range(start, start + len(frames))):
            raise ValueError("render needs consecutive frame indices")
        n = len(frames)
        read = array_reader(speech.samples)
        activity = speech_activity(read, n, fps, speech.sample_rate)
        decoded = iter_frames(self.footage, start=seek_seconds(start, fps), max_frames=n)
        for lo in range(0, n, self.batch):
            sources = list(itertools.islice(decoded, self.batch))
            index = np.arange(start + lo, start + lo + len(sources))
            inside = index < len(self.usable)
            live = np.flatnonzero(inside & self.usable[np.where(inside, index, 0)])
            results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
            if len(live):
                f = index[live]
                poses = FramePoses(
                    self.rotations[f], self.translations[f], (f / float(fps)).astype(np.float32)
                )
                out = self.compositor.render(
                    [sources[j] for j in live], poses, read, fps, lo + live, activity[lo + live]
                )
                results = {int(j): r for j, r in zip(live, out, strict=True)}
            for j, src in enumerate(sources):
                yield results.get(j, (src, np.zeros(src.shape[:2], bool)))
