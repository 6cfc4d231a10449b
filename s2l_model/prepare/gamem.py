"""Per-frame GAMEM mappings of a prepared video: canonical depth + poses + camera → dense grids."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.depth import observed_depth
from s2l_model.geometry.pose import Pose, relative_pose
from s2l_model.geometry.warp import backward_warp, c2o_grid, o2c_grid


@dataclass(frozen=True)
class Geometry:
    """What the mappings of every frame need: the camera, the canonical view and its depth."""

    camera: PinholeCamera
    canonical_pose: Pose
    canonical_depth: np.ndarray  # (H, W) float32

    def o2c(self, observed: Pose) -> torch.Tensor:
        """(H, W, 2): for each canonical pixel, where it is in the observed frame."""
        return o2c_grid(torch.from_numpy(self.canonical_depth), self.camera, self.canonical_pose, observed)

    def c2o(self, observed: Pose) -> torch.Tensor:
        """(H, W, 2): for each observed pixel, where it is in the canonical view."""
        depth = observed_depth(
            self.canonical_depth, self.camera, relative_pose(self.canonical_pose, observed)
        )
        return c2o_grid(torch.from_numpy(depth), self.camera, self.canonical_pose, observed)

    def to_canonical_image(self, frame: np.ndarray, observed: Pose) -> np.ndarray:
        """Warp an observed HxWx3 uint8 frame into canonical space (backward warping, bilinear)."""
        image = torch.from_numpy(frame).permute(2, 0, 1).float()
        warped, _ = backward_warp(image, self.o2c(observed))
        return warped.permute(1, 2, 0).round().clamp(0, 255).byte().numpy()

    def points_to_canonical(self, points: np.ndarray, depth: np.ndarray, observed: Pose) -> np.ndarray:
        """Observed (L, 2) pixel points at camera depths (L,) → canonical (L, 2) pixel positions."""
        cam = self.camera
        xyz = np.stack(
            [(points[:, 0] - cam.cx) * depth / cam.focal, (points[:, 1] - cam.cy) * depth / cam.focal, depth],
            axis=1,
        )
        back = relative_pose(self.canonical_pose, observed).inverse().apply(xyz)
        return np.stack(
            [cam.focal * back[:, 0] / back[:, 2] + cam.cx, cam.focal * back[:, 1] / back[:, 2] + cam.cy],
            axis=1,
        )


def roundtrip_error(geometry: Geometry, observed: Pose, mask: np.ndarray) -> float:
    """Median distance (px) after mapping canonical pixels O2C, then back C2O, over ``mask`` pixels
    whose observed position falls inside the frame."""
    o2c = geometry.o2c(observed)
    c2o = geometry.c2o(observed)
    height, width = mask.shape
    back, inside = backward_warp(c2o.permute(2, 0, 1), o2c)
    home = torch.stack(
        torch.meshgrid(torch.arange(width), torch.arange(height), indexing="xy"), dim=-1
    ).float()
    error = torch.linalg.norm(back.permute(1, 2, 0) - home, dim=-1)
    keep = torch.from_numpy(mask) & inside
    return float(error[keep].median()) if keep.any() else float("nan")
