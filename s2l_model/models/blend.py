"""Blend-Net (paper Sec. 4.4): a light U-Net that predicts a residual over the pasted lower face.

Input: the pasted crop (RGB in [-1, 1], black where warping left holes) and the blend-region mask. Output: a
residual added to the pasted crop *inside the blend region only*, so every pixel outside it stays the source
pixel. The last layer starts at zero: an untrained Blend-Net is the plain paste. No batch normalisation
(batches are a handful of crops); LeakyReLU throughout.

With ``residual_sigma`` > 0 (our departure, the default since issue 16's tenth session) the residual is
low-passed by a Gaussian of that many pixels before it is added: Blend-Net then corrects colour and shading
but cannot smooth the texture it is given (the lips' and the footage's). Trained with a full-band residual,
it took a tenth of the mouth's sharpness (CPBD 0.144 → 0.129 with the frames' own lips) and 6 % of the
gradient energy around the region's border; low-passed, it keeps both (BENCHMARKS.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.geometry.crop import gaussian_blur


def _double_conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.LeakyReLU(0.1),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.LeakyReLU(0.1),
    )


class BlendNet(nn.Module):
    """Two down-sampling levels; input sizes must be multiples of 4. ``residual_sigma``: the Gaussian (px)
    the residual is low-passed by (0: the paper's full-band residual)."""

    def __init__(self, channels: int = 16, residual_sigma: float = 0.0) -> None:
        super().__init__()
        if residual_sigma < 0:
            raise ValueError(f"residual_sigma must be >= 0, got {residual_sigma}")
        self.residual_sigma = residual_sigma
        c = channels
        self.inc = _double_conv(4, c)
        self.down1 = _double_conv(c, 2 * c)
        self.down2 = _double_conv(2 * c, 2 * c)
        self.up1 = _double_conv(4 * c, c)
        self.up2 = _double_conv(2 * c, c)
        self.outc = nn.Conv2d(c, 3, 1)
        nn.init.zeros_(self.outc.weight)
        nn.init.zeros_(self.outc.bias)

    def forward(self, pasted: torch.Tensor, region: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) pasted colours in [0, 1] and (B, 1, H, W) region mask → blended (B, 3, H, W)."""
        x1 = self.inc(torch.cat([2 * pasted - 1, region], dim=1))
        x2 = self.down1(F.max_pool2d(x1, 2))
        x3 = self.down2(F.max_pool2d(x2, 2))
        u = F.interpolate(x3, size=x2.shape[-2:], mode="bilinear", align_corners=False)
        u = self.up1(torch.cat([u, x2], dim=1))
        u = F.interpolate(u, size=x1.shape[-2:], mode="bilinear", align_corners=False)
        u = self.up2(torch.cat([u, x1], dim=1))
        residual = region * self.outc(u)  # the output outside the region is never trained: not blurred in
        if self.residual_sigma > 0:
            residual = region * gaussian_blur(residual, self.residual_sigma)
        return pasted + residual


def black_holes(
    pasted: torch.Tensor,
    where: torch.Tensor,
    probability: float,
    ratio: float,
    generator: torch.Generator | None,
) -> torch.Tensor:
    """Random black-hole augmentation (paper Sec. 4.3): with ``probability`` per sample, blacken a random
    fraction (up to ``ratio``) of the pixels where warped content is (``where`` > 0.5), as forward warping to
    a new pose would leave them; Blend-Net learns to fill them. The loss target stays the real frame."""
    batch = pasted.shape[0]
    device = pasted.device
    pick = torch.rand(batch, 1, 1, 1, generator=generator, device=device) < probability
    fraction = torch.rand(batch, 1, 1, 1, generator=generator, device=device) * ratio
    # holes of 1-4 px: random noise at a quarter resolution, upsampled, thresholded at the fraction
    h, w = pasted.shape[-2:]
    noise = torch.rand(batch, 1, max(1, h // 2), max(1, w // 2), generator=generator, device=device)
    noise = F.interpolate(noise, size=(h, w), mode="nearest")
    holes = pick & (noise < fraction) & (where > 0.5)
    return pasted.masked_fill(holes, 0.0)
