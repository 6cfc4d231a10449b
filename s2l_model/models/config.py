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
from s2l_model.features.frames import FeatureConfig
from s2l_model.fields.lip import LipFieldConfig


@dataclass(frozen=True)
class ModelConfig(LipFieldConfig):
    """Sizes of the networks (stored in the profile: the renderer rebuilds the same networks): the lip
    field's (inherited, see ``LipFieldConfig``) and those of the training size, Blend-Net and sync expert."""

    lip_width: int = 64  # training width (px) of the canonical lip image; height keeps the box's aspect
    blend_channels: int = 16
    sync_width: int = 48  # the sync expert's mouth image, grey, px
    sync_frames: int = 5  # mouth images per sync window (0.2 s at 25 fps)
    speech_phonemes: bool = True  # the mouth stage hears phoneme posteriors (hama's recogniser) …
    speech_mel: bool = True  # … and per-utterance normalised log-mel (loudness is always in)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """The model sizes stored in a profile's manifest."""
        return from_table(cls, values, "profile", "model")

    def speech_features(self) -> FeatureConfig:
        """What the mouth stage hears (``features.frames``)."""
        return FeatureConfig(phonemes=self.speech_phonemes, mel=self.speech_mel)

    def lip_field(self) -> LipFieldConfig:
        """The lip field's part of the sizes."""
        return LipFieldConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LipFieldConfig)})
