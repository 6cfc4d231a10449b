"""Footage frames of a profile rendered with any speech: what ``evaluate`` scores on the held-out frames.

The same composition as ``s2l dub`` (``render_frames``, with the speech-activity gate), on consecutive
frames of the profile's own footage, so the held-out figures measure what a dub produces.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch

from s2l_model.features.speech import array_reader
from s2l_model.media import MediaInfo, Speech, iter_frames, seek_seconds
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.batch import FaceLayer, RenderJob, SpeechFrames, render_frames
from s2l_model.render.compose import FramePoses, LipCompositor


class ProfileRenderer:
    """Renders footage frames of a profile with any speech (a ``FrameRenderer`` for ``evaluate``)."""

    def __init__(
        self,
        profile: SpeakerProfile,
        footage: Path,
        *,
        device: str = "cpu",
        batch: int = 8,
        info: MediaInfo | None = None,
        true_codes: bool = False,
    ) -> None:
        """``info``: the footage's probe, if the caller has it (decoding then does not probe again);
        ``true_codes``: render each frame's own tracked mouth code instead of the one its speech predicts
        (the renderer-alone check of a mouth-driven profile)."""
        self.profile, self.footage, self.batch, self.info = profile, footage, batch, info
        self.true_codes = None
        if true_codes:
            if "mouth_codes" not in profile.arrays:
                raise ValueError("this profile has no mouth codes (a speech-driven lip field)")
            self.true_codes = np.asarray(profile.arrays["mouth_codes"], np.float32)
        a = profile.arrays
        self.usable = a["usable"].astype(bool)
        self.rotations = np.nan_to_num(a["rotations"]).astype(np.float32)
        self.translations = np.nan_to_num(a["translations"]).astype(np.float32)
        self.compositor = LipCompositor.for_profile(
            profile, self.rotations[self.usable], self.translations[self.usable], torch.device(device)
        )

    def poses(self, index: np.ndarray) -> FramePoses:
        """The poses and times of the profile's footage frames ``index``."""
        return FramePoses(
            self.rotations[index],
            self.translations[index],
            (index / float(self.profile.fps)).astype(np.float32),
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
        index = np.arange(start, start + n)
        inside = index < len(self.usable)  # frames past the profile's arrays keep their own lips
        live = inside & self.usable[np.where(inside, index, 0)]
        job = RenderJob(
            layers=[
                FaceLayer(
                    self.compositor,
                    self.poses,
                    live,
                    codes_of=None if self.true_codes is None else self.true_codes.__getitem__,
                )
            ],
            footage=index,
            speech=SpeechFrames.gated(
                array_reader(speech.samples),
                n,
                fps,
                speech.sample_rate,
                len(speech.samples),
                prefetch=[self.compositor.hears],
            ),
            batch=self.batch,
        )
        decoded = iter_frames(self.footage, info=self.info, start=seek_seconds(start, fps), max_frames=n)
        try:
            for rendered in render_frames(job, decoded):
                yield rendered.frame, rendered.region
        finally:
            job.speech.close()
