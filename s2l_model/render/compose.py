"""Inference-time composition: a batch of footage frames + speech windows → frames with new lips.

The same steps as training's ``SpeakerModel.compose`` (lip field → merge into the canonical patch → C2O
warp → soft-mask paste → Blend-Net), made fast enough for real time on two CPU cores:

- only a *window* around the lower face is composed: per frame, the bounding box of the blend box's
  projection plus a margin for Blend-Net's receptive field. Pixels outside it are outside the blend region,
  hence the source pixel anyway. The window moves with the head and comes in two sizes per footage, one
  that fits 90 % of its frames and one that fits all (a batch takes the smaller one where it fits): oneDNN
  re-plans its convolutions for every new input shape, which costs more than a tight window saves.
- the depth map is frozen once (no re-interpolation per C2O iteration), Blend-Net runs channels-last
  (oneDNN's fast path for its thin convolutions: about 2× on CPU), and the resting lips are rendered once.

A mouth-driven profile (``drive = "mouth"``) goes speech features → mouth codes (the profile's mouth stage,
calibrated) → lip field. Speech activity (``features.activity``) and ``mouth_amp`` act on the codes: a
frame gets the resting code (the canonical frame's, mouth closed) plus activity × amplitude of the way to its
predicted code, so silence and ``mouth_amp = 0`` render the resting mouth exactly. A speech-driven profile
blends its speech-driven lips with its resting lips (the field's output for digital silence at the canonical
frame's time) by the same weight, in pixels. Either way the mouth is closed and still in silence, whatever
noise the speech holds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np
import torch

from s2l_model.features.frames import FeatureConfig, FrameFeatures
from s2l_model.features.speech import MelConfig, SampleReader, windows_for_frames
from s2l_model.geometry.crop import Rect, canonical_to_observed, sample_image
from s2l_model.models.speaker import SpeakerModel, put_back

if TYPE_CHECKING:
    from s2l_model.profile.speaker import SpeakerProfile

#: Extra pixels around the projected blend box: covers Blend-Net's receptive field at the region's
#: feathered edge (a multiple of 4, the U-Net's down-sampling factor).
WINDOW_MARGIN = 12
#: Spacing (canonical pixels) of the blend-box border points that are projected to find the window.
BORDER_STEP = 8


@dataclass(frozen=True)
class FramePoses:
    """Poses of a batch of footage frames: relative rotations (B, 3, 3) and translations (B, 3), and each
    frame's time in seconds (B,) for the lip field's time code."""

    rotations: np.ndarray
    translations: np.ndarray
    seconds: np.ndarray


class LipCompositor:
    """Renders new lips into footage frames with one profile's model."""

    def __init__(
        self,
        model: SpeakerModel,
        footage_rotations: np.ndarray,
        footage_translations: np.ndarray,
        *,
        rest_seconds: float,
        device: str | torch.device = "cpu",
        mouth_amp: float = 1.0,
    ) -> None:
        """``footage_*``: the poses of every usable frame that will be rendered (they fix the window size);
        ``rest_seconds``: the time code of the resting lips (``SpeakerProfile.canonical_seconds``);
        ``mouth_amp``: how far the mouth moves from rest, 1 as calibrated (0: the resting mouth)."""
        self.model = model
        self.mouth_amp = float(mouth_amp)
        self.device = torch.device(device)
        self.layout = model.layout
        self.sync_config = MelConfig(window_frames=self.layout.sync_mel_frames)  # the sync expert's window
        model.blend.to(memory_format=torch.channels_last)
        with torch.no_grad():
            depth = model.depth.depth_map().detach()[None, None].to(self.device)
        patch = self.layout.patch
        self._depth_of = lambda pixels: sample_image(depth, pixels, patch, padding="border")[:, 0]
        self._border = _border_points(self.layout.blend_box).to(self.device)
        self._border_depth = self._depth_of(self._border[None])[0]
        self.rest_lips = self._rest_lips(rest_seconds)
        lo, hi = self._projected_boxes(footage_rotations, footage_translations)
        frame = np.array([self.layout.width, self.layout.height])
        sizes = (
            hi - lo if len(lo) else np.array([[self.layout.blend_box.width, self.layout.blend_box.height]])
        )
        self.window_sizes = [
            np.minimum(
                frame - frame % 4, -(-(np.percentile(sizes, q, axis=0) + 2 * WINDOW_MARGIN) // 4) * 4
            ).astype(np.int64)
            for q in (90, 100)
        ]

    @classmethod
    def for_profile(
        cls,
        profile: SpeakerProfile,
        footage_rotations: np.ndarray,
        footage_translations: np.ndarray,
        device: str | torch.device = "cpu",
        mouth_amp: float = 1.0,
    ) -> LipCompositor:
        """The compositor of ``profile``'s model, resting lips at its canonical frame's time."""
        return cls(
            profile.model,
            footage_rotations,
            footage_translations,
            rest_seconds=profile.canonical_seconds,
            device=device,
            mouth_amp=mouth_amp,
        )

    @property
    def hears(self) -> FeatureConfig | None:
        """What speech features the model needs (None: log-mel only)."""
        return self.model.hears

    @torch.no_grad()
    def _rest_lips(self, seconds: float) -> torch.Tensor:
        """(1, 3, h, w) lips for digital silence: the mouth at rest."""
        box = self.layout.lip_box
        stage = self.model.mouth
        if stage is not None:
            return self.model.render_lips(stage.rest[None], torch.tensor([seconds], device=self.device))
        silence = float(np.log(MelConfig().floor))
        n_mels = self.layout.n_mels
        mel = torch.full((1, MelConfig().window_frames, n_mels), silence, device=self.device)
        sync_mel = torch.full((1, self.layout.sync_mel_frames, n_mels), silence, device=self.device)
        cond = self.model.condition(mel, sync_mel, torch.tensor([seconds], device=self.device))
        return self.model.field.render(cond, box.width, box.height)

    def _projected_boxes(
        self, rotations: np.ndarray, translations: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per frame, the (x, y) corners [lo, hi) of the blend box's projection, in frame pixels."""
        if not len(rotations):
            return np.zeros((0, 2)), np.zeros((0, 2))
        batch = len(rotations)
        projected, _ = canonical_to_observed(
            self._border[None].expand(batch, -1, -1),
            self._border_depth[None].expand(batch, -1),
            self.layout.camera,
            torch.from_numpy(np.ascontiguousarray(rotations, np.float32)).to(self.device),
            torch.from_numpy(np.ascontiguousarray(translations, np.float32)).to(self.device),
        )
        points = projected.cpu().numpy()
        return np.floor(points.min(axis=1)), np.ceil(points.max(axis=1)) + 1

    def windows(self, poses: FramePoses) -> tuple[np.ndarray, tuple[int, int]]:
        """(B, 2) top-left (x, y) of each frame's window, centred on its projected blend box inside the
        frame, and the windows' (width, height)."""
        lo, hi = self._projected_boxes(poses.rotations, poses.translations)
        need = np.max(hi - lo, axis=0) + 2 * WINDOW_MARGIN
        size = next((s for s in self.window_sizes if (s >= need).all()), self.window_sizes[-1])
        frame = np.array([self.layout.width, self.layout.height])
        corners = np.clip(np.round((lo + hi - size) / 2), 0, frame - size).astype(np.int64)
        return corners, (int(size[0]), int(size[1]))

    @torch.no_grad()
    def render(
        self,
        sources: Sequence[np.ndarray],
        poses: FramePoses,
        speech: SampleReader,
        fps: Fraction,
        frames: np.ndarray,
        activity: np.ndarray | None = None,
        features: FrameFeatures | None = None,
        codes: np.ndarray | None = None,
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(frame, region) per source frame: ``region`` is the (H, W) bool mask of re-rendered pixels.
        Source j says what ``speech`` (16 kHz samples) holds around output frame ``frames[j]`` at ``fps``;
        ``activity`` (B,) in [0, 1] is the frames' speech weight (None: all speech); ``features``: the
        speech's feature windows (``hears``), which a mouth-driven model needs; ``codes``: (B, K) mouth
        codes to render as they are, instead of predicting them (no gate, no amplitude)."""
        model, dev = self.model, self.device
        box = self.layout.lip_box
        span = range(int(frames.min()), int(frames.max()) + 1)
        pick = frames - span.start
        seconds = torch.from_numpy(poses.seconds.astype(np.float32)).to(dev)
        weight = torch.ones(len(frames), device=dev)
        if activity is not None:
            weight = torch.from_numpy(activity.astype(np.float32)).to(dev)
        if model.mouth is not None and codes is not None:
            given = torch.from_numpy(np.nan_to_num(codes).astype(np.float32)).to(dev)
            lips = model.render_lips(given, seconds)
        elif model.mouth is not None:
            if features is None:
                raise ValueError("a mouth-driven profile needs the speech's feature windows")
            windows = torch.from_numpy(np.ascontiguousarray(features.windows(span)[pick])).to(dev)
            codes = model.mouth.speak(windows, weight, self.mouth_amp)
            lips = model.render_lips(codes, seconds)
        else:
            mels = windows_for_frames(speech, fps, span)[pick]
            sync_mels = windows_for_frames(speech, fps, span, self.sync_config)[pick]
            cond = model.condition(
                torch.from_numpy(mels).to(dev), torch.from_numpy(sync_mels).to(dev), seconds
            )
            lips = model.field.render(cond, box.width, box.height)
            scale = (self.mouth_amp * weight)[:, None, None, None]
            lips = self.rest_lips + scale * (lips - self.rest_lips)

        corners, (width, height) = self.windows(poses)
        crops = np.stack(
            [src[y : y + height, x : x + width] for src, (x, y) in zip(sources, corners, strict=True)]
        )
        crop_t = torch.from_numpy(crops).to(dev).permute(0, 3, 1, 2).float().div_(255.0)
        # The window's corner plays the crop origin's part: C2O of the window's own pixels.
        grid = model.crop_grid(
            torch.from_numpy(poses.rotations).to(dev),
            torch.from_numpy(poses.translations).to(dev),
            torch.from_numpy(corners).to(dev),
            window=Rect(0, 0, width, height),
            depth_of=self._depth_of,
        )
        composed = model.compose(lips, crop_t.contiguous(memory_format=torch.channels_last), grid)
        out = composed.output.clamp_(0, 1).mul_(255).round_().byte().permute(0, 2, 3, 1).cpu().numpy()
        regions = (composed.blend_mask[:, 0] > 0).cpu().numpy()
        return [
            put_back(src, (int(x), int(y)), out[j], regions[j])
            for j, (src, (x, y)) in enumerate(zip(sources, corners, strict=True))
        ]


def _border_points(box: Rect) -> torch.Tensor:
    """(P, 2) canonical pixels along the border of ``box``, at most ``BORDER_STEP`` apart."""
    x0, y0, x1, y1 = box.x0, box.y0, box.x0 + box.width - 1, box.y0 + box.height - 1
    xs = np.linspace(x0, x1, max(2, box.width // BORDER_STEP + 1))
    ys = np.linspace(y0, y1, max(2, box.height // BORDER_STEP + 1))
    points = np.concatenate(
        [
            np.stack([xs, np.full_like(xs, y0)], 1),
            np.stack([xs, np.full_like(xs, y1)], 1),
            np.stack([np.full_like(ys, x0), ys], 1),
            np.stack([np.full_like(ys, x1), ys], 1),
        ]
    )
    return torch.from_numpy(points).float()
