"""Pinhole camera: projection and back-projection.

Convention (OpenCV): x right, y down, z forward (depth = z > 0); pixel centres at integer coordinates.
Functions take torch tensors so gradients reach the depth map during training (paper Eq. 9).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class PinholeCamera:
    focal: float  # pixels
    cx: float
    cy: float

    @classmethod
    def centred(cls, width: int, height: int, focal: float) -> PinholeCamera:
        """Principal point at the image centre."""
        return cls(focal=focal, cx=(width - 1) / 2, cy=(height - 1) / 2)

    def project(self, points: torch.Tensor) -> torch.Tensor:
        """(..., 3) camera-space points → (..., 2) pixel coordinates."""
        z = points[..., 2:3]
        return torch.cat(
            [self.focal * points[..., 0:1] / z + self.cx, self.focal * points[..., 1:2] / z + self.cy], dim=-1
        )

    def backproject(self, pixels: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        """(..., 2) pixels and (...) depths (z) → (..., 3) camera-space points."""
        x = (pixels[..., 0] - self.cx) / self.focal * depth
        y = (pixels[..., 1] - self.cy) / self.focal * depth
        return torch.stack([x, y, depth], dim=-1)


def pixel_grid(height: int, width: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(H, W, 2) tensor of (x, y) pixel coordinates."""
    ys, xs = torch.meshgrid(
        torch.arange(height, dtype=dtype), torch.arange(width, dtype=dtype), indexing="ij"
    )
    return torch.stack([xs, ys], dim=-1)
