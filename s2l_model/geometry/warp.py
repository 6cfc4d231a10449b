"""GAMEM mappings (paper Sec. 4.3): dense pixel correspondences between the canonical and an observed view.

Given a depth map of one view, every pixel is back-projected, moved by the relative head pose, and
projected into the other view (paper Eq. 4-5). That gives a *grid*: for each pixel of the view we want
to build, the (sub-pixel) position to sample in the other view.

- O2C grid (canonical depth): builds the canonical image from an observed frame by backward warping
  (supervision for the lip model).
- C2O grid (observed depth): builds the observed image from the canonical one (pasting generated lips).
- Forward splatting moves pixels to a new pose where no depth of the target is known; it leaves holes,
  reported in a mask (paper: pose-controllable synthesis, filled by Blend-Net).

All in torch, so gradients flow into the depth map (paper Eq. 9).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from s2l_model.geometry.camera import PinholeCamera, pixel_grid
from s2l_model.geometry.pose import Pose, relative_pose


def correspondence_grid(depth: torch.Tensor, camera: PinholeCamera, view_to_other: Pose) -> torch.Tensor:
    """(H, W) depth of a view → (H, W, 2) pixel positions of the same surface points in the other view."""
    height, width = depth.shape
    rotation, translation = view_to_other.as_torch(depth.dtype)
    points = camera.backproject(pixel_grid(height, width, depth.dtype), depth)
    return camera.project(points @ rotation.T + translation)


def o2c_grid(
    canonical_depth: torch.Tensor, camera: PinholeCamera, canonical: Pose, observed: Pose
) -> torch.Tensor:
    """For each canonical pixel, where to sample the observed frame."""
    return correspondence_grid(canonical_depth, camera, relative_pose(canonical, observed))


def c2o_grid(
    observed_depth: torch.Tensor, camera: PinholeCamera, canonical: Pose, observed: Pose
) -> torch.Tensor:
    """For each observed pixel, where to sample the canonical image."""
    return correspondence_grid(observed_depth, camera, relative_pose(observed, canonical))


def _normalised(grid: torch.Tensor, height: int, width: int) -> torch.Tensor:
    scale = torch.tensor([2.0 / max(width - 1, 1), 2.0 / max(height - 1, 1)], dtype=grid.dtype)
    return grid * scale - 1.0


def backward_warp(image: torch.Tensor, grid: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample ``image`` (C, H, W) at ``grid`` (H', W', 2) pixel positions (bilinear).

    Returns the warped (C, H', W') image and a (H', W') mask of positions that fell inside the source.
    """
    _, height, width = image.shape
    sampled = F.grid_sample(
        image[None],
        _normalised(grid, height, width)[None],
        mode="bilinear",
        padding_mode="zeros",
        align_corners=True,
    )[0]
    inside = (
        (grid[..., 0] >= 0) & (grid[..., 0] <= width - 1) & (grid[..., 1] >= 0) & (grid[..., 1] <= height - 1)
    )
    return sampled, inside


def forward_splat(
    values: torch.Tensor,
    target_pixels: torch.Tensor,
    target_depth: torch.Tensor,
    size: tuple[int, int],
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Move source pixels' ``values`` (C, H, W) to ``target_pixels`` (H, W, 2): nearest pixel, z-buffered.

    Where several source pixels land on one target pixel, the nearest (smallest ``target_depth``) wins.
    Returns the (C, H', W') splatted values and the (H', W') hole mask (True = nothing landed there).
    """
    channels = values.shape[0]
    out_h, out_w = size
    xy = torch.round(target_pixels).long()
    keep = (
        (xy[..., 0] >= 0)
        & (xy[..., 0] < out_w)
        & (xy[..., 1] >= 0)
        & (xy[..., 1] < out_h)
        & (target_depth > 0)
    )
    if valid is not None:
        keep &= valid
    index = (xy[..., 1] * out_w + xy[..., 0])[keep]
    depth = target_depth[keep]
    nearest = torch.full((out_h * out_w,), float("inf"), dtype=depth.dtype)
    nearest = nearest.scatter_reduce(0, index, depth, reduce="amin")
    winners = depth <= nearest[index]  # ties: any of the equally near points
    flat = torch.zeros(channels, out_h * out_w, dtype=values.dtype)
    flat[:, index[winners]] = values[:, keep][:, winners]
    holes = torch.isinf(nearest).reshape(out_h, out_w)
    return flat.reshape(channels, out_h, out_w), holes


def render_depth(
    depth: torch.Tensor, camera: PinholeCamera, view_to_other: Pose, valid: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The depth map of the other view, by splatting this view's surface points (holes masked)."""
    height, width = depth.shape
    rotation, translation = view_to_other.as_torch(depth.dtype)
    points = camera.backproject(pixel_grid(height, width, depth.dtype), depth) @ rotation.T + translation
    splat, holes = forward_splat(
        points[..., 2][None], camera.project(points), points[..., 2], (height, width), valid
    )
    return splat[0], holes
