"""The learned canonical depth map (paper Sec. 4.3, Eq. 9).

It starts as the mesh-based depth of ``prepare`` over the region the model works in (a patch around the
lower face) and learns a smooth correction: a residual at a quarter of the patch's resolution, upsampled
bilinearly, so the photometric loss moves surfaces rather than single pixels.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.geometry.crop import Rect, sample_image

RESIDUAL_STRIDE = 4


class CanonicalDepthField(nn.Module):
    def __init__(self, initial: torch.Tensor, patch: Rect, learn: bool = True) -> None:
        super().__init__()
        self.patch = patch
        self.register_buffer("initial", initial.float().clone())
        h, w = initial.shape
        self.residual = nn.Parameter(
            torch.zeros(1, 1, max(2, h // RESIDUAL_STRIDE), max(2, w // RESIDUAL_STRIDE)), requires_grad=learn
        )

    def depth_map(self) -> torch.Tensor:
        """(h, w) current depth of the patch."""
        up = F.interpolate(self.residual, size=self.initial.shape, mode="bilinear", align_corners=True)
        return self.initial + up[0, 0]

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Depth at (B, P, 2) canonical full-frame pixels (edge values beyond the patch) → (B, P)."""
        return sample_image(self.depth_map()[None, None], pixels, self.patch, padding="border")[:, 0]
