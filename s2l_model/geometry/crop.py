"""Point-wise GAMEM mappings for a region of the face, batched over frames and differentiable in depth.

The whole-image grids of ``warp.py`` splat the canonical depth into each observed view to get C2O; training
and rendering only need the lower face, and need gradients into the learned depth (paper Eq. 9). Here:

- ``canonical_to_observed``: canonical pixels with their canonical depth → observed pixels (O2C sampling
  positions: where a canonical pixel is found in an observed frame).
- ``observed_to_canonical``: observed pixels → canonical pixels (the C2O grid) without an observed depth map,
  by fixed-point iteration: guess the canonical point, read its depth, move it into the observed camera to get
  the observed depth, back-project the observed pixel with that depth into the canonical camera, repeat.
  For head rotations of a few tens of degrees it converges in a few steps (tests check it against O2C).

Poses are relative (canonical camera → observed camera): Y = R X + t, batched as (B, 3, 3) and (B, 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from s2l_model.geometry.camera import PinholeCamera

DepthFn = Callable[[torch.Tensor], torch.Tensor]  # canonical pixels (B, P, 2) -> depth (B, P)


@dataclass(frozen=True)
class Rect:
    """An axis-aligned pixel rectangle: columns x0 … x0+width-1, rows y0 … y0+height-1."""

    x0: int
    y0: int
    width: int
    height: int

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    def inside(self, other: Rect) -> Rect:
        """This rectangle in ``other``'s pixel coordinates."""
        return Rect(self.x0 - other.x0, self.y0 - other.y0, self.width, self.height)


def pixel_centres(rect: Rect, width: int, height: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(height, width, 2) pixel positions of a ``width`` × ``height`` sampling of ``rect``: the centres of
    equal cells covering it (at width == rect.width these are its integer pixels)."""
    xs = rect.x0 - 0.5 + (torch.arange(width, dtype=dtype) + 0.5) * (rect.width / width)
    ys = rect.y0 - 0.5 + (torch.arange(height, dtype=dtype) + 0.5) * (rect.height / height)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def sample_image(
    image: torch.Tensor, pixels: torch.Tensor, rect: Rect, padding: str = "zeros"
) -> torch.Tensor:
    """Bilinear samples of ``image`` (B or 1, C, h, w), which covers ``rect``, at (B, ..., 2) pixel positions
    in the full frame → (B, C, ...)."""
    batch = pixels.shape[0]
    flat = pixels.reshape(batch, -1, 1, 2)
    scale = torch.tensor(
        [2.0 / max(rect.width - 1, 1), 2.0 / max(rect.height - 1, 1)],
        dtype=pixels.dtype,
        device=pixels.device,
    )
    offset = torch.tensor([rect.x0, rect.y0], dtype=pixels.dtype, device=pixels.device)
    grid = (flat - offset) * scale - 1.0
    if image.shape[0] == 1 and batch > 1:
        image = image.expand(batch, -1, -1, -1)
    out = F.grid_sample(image, grid, mode="bilinear", padding_mode=padding, align_corners=True)
    return out.reshape(batch, image.shape[1], *pixels.shape[1:-1])


def inside_rect(pixels: torch.Tensor, rect: Rect) -> torch.Tensor:
    """Which (..., 2) pixel positions fall inside ``rect`` (for bilinear sampling)."""
    x, y = pixels[..., 0] - rect.x0, pixels[..., 1] - rect.y0
    return (x >= 0) & (x <= rect.width - 1) & (y >= 0) & (y <= rect.height - 1)


def canonical_to_observed(
    pixels: torch.Tensor,
    depth: torch.Tensor,
    camera: PinholeCamera,
    rotation: torch.Tensor,
    translation: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canonical (B, P, 2) pixels at canonical depths (B, P) → observed (B, P, 2) pixels and depths (B, P)."""
    points = camera.backproject(pixels, depth) @ rotation.transpose(1, 2) + translation[:, None, :]
    return camera.project(points), points[..., 2]


def observed_to_canonical(
    pixels: torch.Tensor,
    depth_of: DepthFn,
    camera: PinholeCamera,
    rotation: torch.Tensor,
    translation: torch.Tensor,
    iterations: int = 4,
) -> torch.Tensor:
    """Observed (B, P, 2) pixels → canonical (B, P, 2) pixels, through the canonical depth ``depth_of``."""
    guess = pixels
    for _ in range(iterations):
        _, observed_z = canonical_to_observed(guess, depth_of(guess), camera, rotation, translation)
        points = camera.backproject(pixels, observed_z) - translation[:, None, :]
        guess = camera.project(points @ rotation)  # R^T applied to row vectors
    return guess
