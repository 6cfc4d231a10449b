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

Crop placement (``crop_layout``): the observed crop around the lower face that Blend-Net works on is placed
on the projected centre of the canonical blend box, one size for all frames. The training set chooses that
size (the largest projected box, grown by ``CROP_MARGIN``); other footage uses the profile's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from s2l_model.geometry.camera import PinholeCamera

DepthFn = Callable[[torch.Tensor], torch.Tensor]  # canonical pixels (B, P, 2) -> depth (B, P)

CROP_MARGIN = 1.1  # observed crop: the largest projected blend box, grown by 10 %
CROP_MULTIPLE = 4  # crop sides are multiples of this (Blend-Net's two poolings)


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


#: How face images are resampled between observed and canonical space: the lips O2C into the training set
#: and C2O into the frame. Bicubic, because two bilinear resamplings soften the mouth: the held-out frames'
#: own lips, composed back, kept CPBD 0.102 of the footage's 0.160 with bilinear warps and 0.128 with
#: bicubic ones (``bench/heldout.py --oracles``). Depth, masks and the sync expert's (area-downsampled)
#: crops stay bilinear.
IMAGE_SAMPLING = "bicubic"


def gaussian_blur(image: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, C, H, W) blurred by a separable Gaussian of ``sigma`` px (radius 3 sigma, edges replicated)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1, dtype=image.dtype, device=image.device)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = image.shape[1]
    x = F.pad(image, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).expand(channels, 1, 1, -1), groups=channels)
    return F.conv2d(x, kernel.view(1, 1, -1, 1).expand(channels, 1, -1, 1), groups=channels)


def sample_image(
    image: torch.Tensor, pixels: torch.Tensor, rect: Rect, padding: str = "zeros", mode: str = "bilinear"
) -> torch.Tensor:
    """Bilinear (or ``mode``: grid_sample's "bicubic", "nearest") samples of ``image`` (B or 1, C, h, w),
    which covers ``rect``, at (B, ..., 2) pixel positions in the full frame → (B, C, ...)."""
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
    out = F.grid_sample(image, grid, mode=mode, padding_mode=padding, align_corners=True)
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
    """Observed (B, P, 2) pixels → canonical (B, P, 2) pixels, through the canonical depth ``depth_of``.

    Each step: read the canonical depth d at the guess g, find the observed depth z of that surface point
    (only the z row of the pose is needed: z = d · R₂·((g − c)/f, 1) + t_z), and move the observed pixel's
    ray, at depth z, back into the canonical camera: X = z · Rᵀ ray − Rᵀ t. Rᵀ ray and Rᵀ t are fixed for
    the whole solve, so a step is one depth read and a few element-wise operations on (B, P) tensors (the
    general back-project → rotate → project chain took 2.6× as long: ``bench/c2o.py``)."""
    f, cx, cy = camera.focal, camera.cx, camera.cy
    ray = camera.backproject(pixels, torch.ones_like(pixels[..., 0]))  # the point at depth 1
    q = ray @ rotation  # (B, P, 3): Rᵀ ray, as row vectors
    s = (translation[:, None, :] @ rotation)[:, 0]  # (B, 3): Rᵀ t
    qx, qy, qz = q.unbind(-1)
    sx, sy, sz = (s[:, k, None] for k in range(3))
    r20, r21, r22 = (rotation[:, 2, k, None] for k in range(3))
    tz = translation[:, 2, None]
    guess = pixels
    for _ in range(iterations):
        ax = (guess[..., 0] - cx) / f
        ay = (guess[..., 1] - cy) / f
        z = depth_of(guess) * (r20 * ax + r21 * ay + r22) + tz
        depth = z * qz - sz
        guess = torch.stack([f * (z * qx - sx) / depth + cx, f * (z * qy - sy) / depth + cy], dim=-1)
    return guess


def project_blend_box(
    blend_box: Rect,
    depth: np.ndarray,
    depth_origin: tuple[int, int],
    camera: PinholeCamera,
    rotations: np.ndarray,
    translations: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """The blend box's 4 corners and centre (canonical pixels, at the canonical ``depth``, a map whose
    top-left pixel is ``depth_origin`` (x, y)) in K observed frames: (K, 5, 2) pixels and (K, 5) depths."""
    b = blend_box
    xs = np.array([b.x0, b.x0 + b.width - 1, b.x0, b.x0 + b.width - 1, b.x0 + (b.width - 1) / 2])
    ys = np.array([b.y0, b.y0, b.y0 + b.height - 1, b.y0 + b.height - 1, b.y0 + (b.height - 1) / 2])
    z = depth[np.round(ys).astype(int) - depth_origin[1], np.round(xs).astype(int) - depth_origin[0]]
    k = len(rotations)
    pts = torch.from_numpy(np.stack([xs, ys], axis=1)).float()[None].expand(k, -1, -1)
    proj, proj_z = canonical_to_observed(
        pts,
        torch.from_numpy(z).float()[None].expand(k, -1),
        camera,
        torch.from_numpy(np.ascontiguousarray(rotations, np.float32)),
        torch.from_numpy(np.ascontiguousarray(translations, np.float32)),
    )
    return proj.numpy().astype(np.float64), proj_z.numpy()


def crop_origins(centres: np.ndarray, crop_size: tuple[int, int], size: tuple[int, int]) -> np.ndarray:
    """(K, 2) int32 top-left corners of crops centred on (K, 2) ``centres``, clipped into the frame."""
    (crop_w, crop_h), (width, height) = crop_size, size
    return np.stack(
        [
            np.clip(np.round(centres[:, 0] - crop_w / 2), 0, width - crop_w),
            np.clip(np.round(centres[:, 1] - crop_h / 2), 0, height - crop_h),
        ],
        axis=1,
    ).astype(np.int32)


def covering_crop_size(corners: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """The crop (width, height) covering (K, 4, 2) projected box corners in every frame, grown by
    ``CROP_MARGIN``, in multiples of ``CROP_MULTIPLE``, at most the frame ``size`` (width, height)."""
    extent = corners.max(axis=1) - corners.min(axis=1)  # (K, 2)
    m = CROP_MULTIPLE
    return (
        int(min(size[0] - size[0] % m, m * np.ceil(extent[:, 0].max() * CROP_MARGIN / m))),
        int(min(size[1] - size[1] % m, m * np.ceil(extent[:, 1].max() * CROP_MARGIN / m))),
    )


@dataclass(frozen=True)
class CropLayout:
    """Where the crop around the lower face lies in each of N frames (frames without a pose: zeros)."""

    crop_size: tuple[int, int]  # (width, height)
    origins: np.ndarray  # (N, 2) int32, the crop's top-left corner (x, y)
    #: (N, 4) px, how far the part of the projected blend box inside the frame reaches past the crop
    #: (left, top, right, bottom); <= 0 where it is inside
    overflow: np.ndarray
    in_view: np.ndarray  # (N,) bool: posed, the box in front of the camera and its centre inside the frame


def crop_layout(
    blend_box: Rect,
    depth: np.ndarray,
    depth_origin: tuple[int, int],
    camera: PinholeCamera,
    rotations: np.ndarray,
    translations: np.ndarray,
    posed: np.ndarray,
    size: tuple[int, int],
    crop_size: tuple[int, int] | None = None,
) -> CropLayout:
    """The crops of N frames of ``size`` (width, height): each centred on the projected centre of the
    canonical ``blend_box`` (at ``depth``, see ``project_blend_box``) and clipped into the frame.

    ``rotations`` (N, 3, 3) and ``translations`` (N, 3) are relative poses, read where ``posed`` (N,) bool.
    ``crop_size``: the crop's (width, height); None chooses the one covering the box in every posed frame
    (``covering_crop_size``; there must be a posed frame).
    """
    n = len(posed)
    idx = np.flatnonzero(posed)
    if len(idx) == 0:
        if crop_size is None:
            raise ValueError("no posed frame to choose the crop size from")
        return CropLayout(crop_size, np.zeros((n, 2), np.int32), np.zeros((n, 4)), np.zeros(n, bool))
    proj, proj_z = project_blend_box(
        blend_box, depth, depth_origin, camera, rotations[idx], translations[idx]
    )
    if crop_size is None:
        crop_size = covering_crop_size(proj[:, :4], size)
    width, height = size
    centre = proj[:, 4]
    origins = np.zeros((n, 2), np.int32)
    origins[idx] = crop_origins(centre, crop_size, size)
    # What lies beyond the frame is not shown anyway, so the box is first clipped to the frame.
    lo = np.clip(proj[:, :4].min(axis=1), 0, [width - 1, height - 1])
    hi = np.clip(proj[:, :4].max(axis=1), 0, [width - 1, height - 1])
    start = origins[idx].astype(np.float64)
    end = start + np.array([crop_size[0] - 1, crop_size[1] - 1])
    overflow = np.zeros((n, 4))
    overflow[idx] = np.concatenate([start - lo, hi - end], axis=1)
    inside_frame = (centre >= 0).all(axis=1) & (centre <= [width - 1, height - 1]).all(axis=1)
    in_view = np.zeros(n, bool)
    in_view[idx] = (proj_z > 0).all(axis=1) & inside_frame
    return CropLayout(crop_size, origins, overflow, in_view)
