"""The sizes of the speaker model's networks: a preset's ``[model]`` table, stored in every profile.

The renderer rebuilds the same networks from a profile's copy. The table is flat (users' presets and the
profiles' manifests keep one key per setting); each network takes its own part of it
(``ModelConfig.lip_field()`` for F).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from s2l_model.configs import from_table
from s2l_model.fields.lip import LipFieldConfig


@dataclass(frozen=True)
class ModelConfig:
    """Sizes of the networks (stored in the profile: the renderer rebuilds the same networks)."""

    lip_width: int = 64  # training width (px) of the canonical lip image; height keeps the box's aspect
    encoding: str = "frequency"  # coordinate encoding: "frequency" (NeRF-style) or "grid" (multi-resolution)
    base_image: bool = True  # F = learned full-resolution base image (starts as the canonical lips) + MLP
    frequencies: int = 8  # frequency encoding: sin/cos at 2^0 … 2^(k-1) times pi
    grid_levels: int = 4  # grid encoding: levels from 8 cells up, doubling
    grid_features: int = 4
    mlp_depth: int = 4
    mlp_width: int = 128
    audio_dim: int = 64
    expert_speech: bool = True  # F also gets the (frozen) sync expert's speech embedding of the frame
    use_time: bool = True
    time_frequencies: int = 6  # periods 1 s … 32 s (the paper's timestamp code)
    blend_channels: int = 16
    sync_dim: int = 64
    sync_width: int = 48  # the sync expert's mouth image, grey, px
    sync_frames: int = 5  # mouth images per sync window (0.2 s at 25 fps)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """The model sizes stored in a profile's manifest."""
        return from_table(cls, values, "profile", "model")

    def lip_field(self) -> LipFieldConfig:
        """The lip field's part of the sizes."""
        names = {f.name for f in dataclasses.fields(LipFieldConfig)}
        return LipFieldConfig(**{k: v for k, v in self.to_dict().items() if k in names})
