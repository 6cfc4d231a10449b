"""A speaker profile in memory, and the renderer that makes the speaker say a given speech.

The profile holds the learned ``SpeakerModel`` (safetensors), the per-frame tracks of its footage (relative
head poses, crop origins, landmarks; ``.npy``), the canonical image, and the footage itself. Rendering a
footage frame with some speech: the lip field renders the canonical lip box at full resolution from the
speech window (and the frame's time code), the C2O mapping pastes it into a crop around the lower face,
Blend-Net blends it, and the crop goes back into the frame. Pixels outside the blend region are the source.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2l_model.dataset.trainset import sync_mel_config
from s2l_model.engine.config import model_config_from_dict
from s2l_model.errors import InputError
from s2l_model.features.speech import speech_windows
from s2l_model.media import Speech, iter_frames
from s2l_model.models.speaker import SceneLayout, SpeakerModel, put_back
from s2l_model.profile.container import ProfileContents, extract_file, read_profile

KIND = "s2l speaker profile"
FOOTAGE = "footage"


@dataclass
class SpeakerProfile:
    path: Path
    manifest: dict[str, Any]
    model: SpeakerModel
    arrays: dict[str, np.ndarray]
    canonical_image: np.ndarray

    @property
    def fps(self) -> Fraction:
        num, den = (int(v) for v in self.manifest["fps"].split("/"))
        return Fraction(num, den)

    @property
    def n_frames(self) -> int:
        return int(self.manifest["frames"])

    @property
    def heldout(self) -> range:
        start, stop = self.manifest["split"]["heldout_frames"]
        return range(int(start), int(stop))

    def footage_name(self) -> str:
        return str(self.manifest["footage"])

    def extract_footage(self, folder: Path) -> Path:
        """Copy the footage out of the profile into ``folder`` (hash-checked); return its path."""
        name = self.footage_name()
        return extract_file(self.path, name, folder / name)

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> SpeakerProfile:
        contents = read_profile(path)
        return from_contents(path, contents, device)


def from_contents(path: Path, contents: ProfileContents, device: str | torch.device) -> SpeakerProfile:
    m = contents.manifest
    if m.get("kind") != KIND:
        raise InputError(f"{path.name}: not an s2l speaker profile (kind {m.get('kind')!r})")
    try:
        layout = SceneLayout.from_dict(m["layout"])
        config = model_config_from_dict(m["model"])
        state = contents.weights["model"]
        model = SpeakerModel(
            config,
            layout,
            np.zeros((layout.patch.height, layout.patch.width, 3), np.uint8),
            np.ones((layout.patch.height, layout.patch.width), np.float32),
            np.zeros((layout.patch.height, layout.patch.width), np.float32),
            np.zeros((layout.patch.height, layout.patch.width), np.float32),
            use_blend=bool(m["training"]["blend_net"]),
        )
        model.load_state_dict(state)
    except (KeyError, TypeError, ValueError, RuntimeError) as exc:
        raise InputError(
            f"{path.name}: the profile's model does not load ({exc.__class__.__name__}: {exc})"
        ) from None
    model.requires_grad_(False)
    model.eval().to(device)
    return SpeakerProfile(
        path=path,
        manifest=m,
        model=model,
        arrays=contents.arrays,
        canonical_image=contents.images["canonical"],
    )


class ProfileRenderer:
    """Renders footage frames of a profile with any speech (a ``FrameRenderer`` for ``evaluate``)."""

    def __init__(
        self, profile: SpeakerProfile, footage: Path, *, device: str = "cpu", batch: int = 8
    ) -> None:
        self.profile, self.footage, self.device, self.batch = profile, footage, torch.device(device), batch
        a = profile.arrays
        self.rotations = torch.from_numpy(np.nan_to_num(a["rotations"]))
        self.translations = torch.from_numpy(np.nan_to_num(a["translations"]))
        self.origins = torch.from_numpy(a["origins"].astype(np.int64))
        self.usable = a["usable"]

    def render(self, frames: Sequence[int], speech: Speech) -> Iterator[np.ndarray]:
        for frame, _ in self.render_with_regions(frames, speech):
            yield frame

    def render_with_regions(
        self, frames: Sequence[int], speech: Speech
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(frame, region) per index of ``frames``: ``region`` is the (H, W) bool mask of re-rendered pixels
        (everything else is the source pixel). ``speech`` starts at the first frame's start."""
        profile = self.profile
        frames = list(frames)
        if not frames:
            return
        mels = speech_windows(speech, profile.fps, len(frames))
        sync_mels = speech_windows(
            speech, profile.fps, len(frames), sync_mel_config(profile.fps, profile.model.config.sync_frames)
        )
        start = frames[0]
        if frames != list(range(start, start + len(frames))):
            raise ValueError("render needs consecutive frame indices")
        decoded = iter_frames(self.footage, start=float(start / profile.fps), max_frames=len(frames))
        pending: list[tuple[int, int, np.ndarray]] = []
        for k, source in enumerate(decoded):
            pending.append((k, frames[k], source))
            if len(pending) == self.batch:
                yield from self._render_batch(pending, mels, sync_mels)
                pending = []
        if pending:
            yield from self._render_batch(pending, mels, sync_mels)

    @torch.no_grad()
    def _render_batch(
        self, items: list[tuple[int, int, np.ndarray]], mels: np.ndarray, sync_mels: np.ndarray
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        model = self.profile.model
        layout = model.layout
        live = [(k, f, src) for k, f, src in items if f < len(self.usable) and self.usable[f]]
        results: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        if live:
            ks = [k for k, _, _ in live]
            fs = torch.tensor([f for _, f, _ in live])
            mel = torch.from_numpy(mels[ks]).to(self.device)
            seconds = (fs.double() * self.profile.fps.denominator / self.profile.fps.numerator).float()
            sync_mel = torch.from_numpy(sync_mels[ks]).to(self.device)
            cond = model.condition(mel, sync_mel, seconds.to(self.device))
            lips = model.field.render(cond, layout.lip_box.width, layout.lip_box.height)
            cw, ch = layout.crop_size
            crops = []
            for _, f, src in live:
                x, y = (int(v) for v in self.origins[f])
                crops.append(torch.from_numpy(src[y : y + ch, x : x + cw]).permute(2, 0, 1))
            crop_t = torch.stack(crops).float().to(self.device) / 255.0
            grid = model.crop_grid(
                self.rotations[fs].to(self.device),
                self.translations[fs].to(self.device),
                self.origins[fs].to(self.device),
            )
            composed = model.compose(lips, crop_t, grid)
            out = (composed.output.clamp(0, 1) * 255).round().byte().permute(0, 2, 3, 1).cpu().numpy()
            region = (composed.blend_mask[:, 0] > 0).cpu().numpy()
            for j, (k, f, src) in enumerate(live):
                origin = (int(self.origins[f, 0]), int(self.origins[f, 1]))
                results[k] = put_back(src, origin, out[j], region[j])
        for k, _, src in items:
            yield results.get(k, (src, np.zeros(src.shape[:2], bool)))
