"""A speaker profile in memory.

The profile holds the learned ``SpeakerModel`` (safetensors), the per-frame tracks of its footage (relative
head poses, crop origins, landmarks; ``.npy``), the canonical image, and the footage itself. Rendering with
it is in ``s2l_model.render``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2l_model.errors import InputError
from s2l_model.models.config import ModelConfig
from s2l_model.models.speaker import SceneLayout, SpeakerModel
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
    def canonical_seconds(self) -> float:
        """Time of the canonical frame (mouth closed by choice): the time code of the resting lips."""
        return float(int(self.manifest["canonical_frame"]) / self.fps)

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
        config = ModelConfig.from_dict(m["model"])
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
