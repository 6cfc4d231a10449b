"""Footage frames of a profile rendered with any speech: what ``evaluate`` scores on the held-out frames.

The same composition as ``s2l dub`` (``LipCompositor``, with the speech-activity gate), on consecutive
frames of the profile's own footage, so the held-out figures measure what a dub produces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from s2l_model.features.activity import speech_activity
from s2l_model.features.speech import MelConfig, array_reader, speech_windows
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
            rest_seconds=float(profile.manifest["canonical_frame"] / profile.fps),
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
        mels = speech_windows(speech, fps, n)
        sync_config = MelConfig(window_frames=self.profile.model.layout.sync_mel_frames)
        sync_mels = speech_windows(speech, fps, n, sync_config)
        activity = speech_activity(array_reader(speech.samples), n, fps, speech.sample_rate)
        decoded = iter_frames(self.footage, start=seek_seconds(start, fps), max_frames=n)
        pending: list[np.ndarray] = []
        for k, source in enumerate(decoded):
            pending.append(source)
            if len(pending) == self.batch or k == n - 1:
                lo = k + 1 - len(pending)
                yield from self._render_batch(pending, start + lo, mels, sync_mels, activity, lo)
                pending = []

    def _render_batch(
        self,
        sources: list[np.ndarray],
        first: int,
        mels: np.ndarray,
        sync_mels: np.ndarray,
        activity: np.ndarray,
        offset: int,
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        index = np.arange(first, first + len(sources))
        live = np.flatnonzero(
            (index < len(self.usable)) & self.usable[np.minimum(index, len(self.usable) - 1)]
        )
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if len(live):
            f = index[live]
            poses = FramePoses(
                rotations=self.rotations[f],
                translations=self.translations[f],
                seconds=(f / float(self.profile.fps)).astype(np.float32),
            )
            k = offset + live
            out = self.compositor.render(
                [sources[j] for j in live], poses, mels[k], sync_mels[k], activity[k]
            )
            results = {int(j): r for j, r in zip(live, out, strict=True)}
        for j, src in enumerate(sources):
            yield results.get(j, (src, np.zeros(src.shape[:2], bool)))
