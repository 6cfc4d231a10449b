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
    # Blend-Net's residual is low-passed by a Gaussian of this share of the lip box's width (3 px for a
    # 120 px box), so it corrects colour and shading without smoothing texture (``models.blend``); 0: the
    # paper's full-band residual. A share, not pixels, so the filter follows the face's size.
    blend_residual_blur: float = 1 / 40
    # The real lip detail bank (``fields.detail``): up to this many exemplar frames' high-passed luma, added
    # by nearest mouth code at render time (0: none); the high-pass's Gaussian as a share of the lip box's
    # width (1 px for a 120 px box).
    lip_detail_exemplars: int = 512
    lip_detail_blur: float = 1 / 120
    sync_width: int = 48  # the sync expert's mouth image, grey, px
    sync_frames: int = 5  # mouth images per sync window (0.2 s at 25 fps)
    speech_phonemes: bool = True  # the mouth stage hears phoneme posteriors (hama's recogniser) …
    speech_mel: bool = True  # … and per-utterance normalised log-mel (loudness is always in)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """The model sizes stored in a profile's manifest. Profiles from before ``blend_residual_blur`` were
        trained with the full-band residual, and render so."""
        return from_table(cls, {"blend_residual_blur": 0.0, **values}, "profile", "model")

    def speech_features(self) -> FeatureConfig:
        """What the mouth stage hears (``features.frames``)."""
        return FeatureConfig(phonemes=self.speech_phonemes, mel=self.speech_mel)

    def lip_field(self) -> LipFieldConfig:
        """The lip field's part of the sizes."""
        return LipFieldConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(LipFieldConfig)})
