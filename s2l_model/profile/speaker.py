"""A speaker profile in memory.

The profile holds the learned ``SpeakerModel`` (safetensors), the per-frame tracks of its footage (relative
head poses, crop origins, landmarks; ``.npy``), the canonical image, and the footage itself. Rendering with
it is in ``s2l_model.render``.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from s2l_model.errors import InputError
from s2l_model.models.config import ModelConfig
from s2l_model.models.speaker import SceneLayout, SpeakerModel
from s2l_model.profile.container import extract_file, read_profile
from s2l_model.profile.manifest import ProfileManifest


@dataclass
class SpeakerProfile:
    path: Path
    manifest: ProfileManifest
    model: SpeakerModel  # frozen, in eval mode
    arrays: dict[str, np.ndarray]
    canonical_image: np.ndarray

    @property
    def fps(self) -> Fraction:
        return self.manifest.fps

    @property
    def n_frames(self) -> int:
        return self.manifest.frames

    @property
    def canonical_seconds(self) -> float:
        """Time of the canonical frame (mouth closed by choice): the time code of the resting lips."""
        return float(self.manifest.canonical_frame / self.fps)

    @property
    def heldout(self) -> range:
        return self.manifest.split.heldout

    def footage_name(self) -> str:
        return self.manifest.footage

    def extract_footage(self, folder: Path) -> Path:
        """Copy the footage out of the profile into ``folder`` (hash-checked); return its path."""
        name = self.footage_name()
        return extract_file(self.path, name, folder / name)

    @classmethod
    def load(cls, path: Path, device: str | torch.device = "cpu") -> SpeakerProfile:
        contents = read_profile(path)
        manifest = ProfileManifest.from_dict(contents.manifest, label=path.name)
        try:
            model = _rebuild_model(manifest, contents.weights["model"])
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise InputError(
                f"{path.name}: the profile's model does not load ({exc.__class__.__name__}: {exc})"
            ) from None
        return cls(
            path=path,
            manifest=manifest,
            model=frozen(model, device),
            arrays=contents.arrays,
            canonical_image=contents.images["canonical"],
        )


def frozen(model: SpeakerModel, device: str | torch.device) -> SpeakerModel:
    """``model`` made ready to render: no gradients, eval mode, on ``device`` (in place)."""
    model.requires_grad_(False)
    return model.eval().to(device)


def _rebuild_model(manifest: ProfileManifest, state: dict[str, torch.Tensor]) -> SpeakerModel:
    """The networks the manifest describes, with the stored weights (every buffer is in ``state``, so the
    patches the constructor needs are placeholders of the right size)."""
    layout = SceneLayout.from_dict(manifest.layout)
    patch = (layout.patch.height, layout.patch.width)
    model = SpeakerModel(
        ModelConfig.from_dict(manifest.model),
        layout,
        np.zeros((*patch, 3), np.uint8),
        np.ones(patch, np.float32),
        np.zeros(patch, np.float32),
        np.zeros(patch, np.float32),
        use_blend=manifest.training.blend_net,
    )
    model.load_state_dict(state)
    return model
