"""Canonical depth: the face mesh rasterised into a dense depth map, then extended to the whole head.

The face part comes from the mesh triangles (z-buffered, barycentric interpolation of vertex depths);
holes inside the face outline (open eyes or mouth in the topology) are filled by linear interpolation
of the vertices. Beyond the face the head continues as a sphere of half the face width around the face's
edge (ears, hair, skull): depth = depth at the nearest face pixel + how far a sphere curves away at that
distance. Outside the head the picture is a plane behind the head, so every pixel has a depth and the
warps stay defined there (composition only ever uses the mouth region). Training optimises this map
(paper Eq. 9); here it is only the starting value.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.interpolate import LinearNDInterpolator

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.pose import Pose
from s2l_model.geometry.warp import render_depth

HEAD_WIDTH_FACTOR = 1.2  # head ellipse half-width / face-outline half-width (ears)
HEAD_TOP_FACTOR = 0.35  # hair above the face outline, as a fraction of the face height


@dataclass(frozen=True)
class CanonicalDepth:
    depth: np.ndarray  # (H, W) float32 camera-space z, > 0 everywhere
    face_mask: np.ndarray  # (H, W) bool: covered by the face mesh
    head_mask: np.ndarray  # (H, W) bool: face plus the head extension


def rasterise_mesh(
    vertices: np.ndarray, vertex_depth: np.ndarray, triangles: np.ndarray, size: tuple[int, int]
) -> np.ndarray:
    """(V, 2) pixel positions with (V,) depths → (H, W) nearest-surface depth, 0 where no triangle."""
    height, width = size
    zbuf = np.full((height, width), np.inf)
    for tri in triangles:
        p = vertices[tri]
        x0, y0 = np.maximum(np.floor(p.min(axis=0)).astype(int), 0)
        x1, y1 = np.minimum(np.ceil(p.max(axis=0)).astype(int), (width - 1, height - 1))
        if x1 < x0 or y1 < y0:
            continue
        ys, xs = np.mgrid[y0 : y1 + 1, x0 : x1 + 1]
        (ax, ay), (bx, by), (cx, cy) = p
        det = (by - cy) * (ax - cx) + (cx - bx) * (ay - cy)
        if abs(det) < 1e-9:
            continue
        w0 = ((by - cy) * (xs - cx) + (cx - bx) * (ys - cy)) / det
        w1 = ((cy - ay) * (xs - cx) + (ax - cx) * (ys - cy)) / det
        w2 = 1 - w0 - w1
        inside = (w0 >= -1e-6) & (w1 >= -1e-6) & (w2 >= -1e-6)
        if not inside.any():
            continue
        z = w0 * vertex_depth[tri[0]] + w1 * vertex_depth[tri[1]] + w2 * vertex_depth[tri[2]]
        region = zbuf[y0 : y1 + 1, x0 : x1 + 1]
        np.minimum(region, np.where(inside, z, np.inf), out=region)
    return np.where(np.isfinite(zbuf), zbuf, 0.0)


def _outline_mask(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    mask = np.zeros(size, np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points).astype(np.int32)), 1)
    return mask.astype(bool)


def canonical_depth(
    vertices: np.ndarray,
    vertex_depth: np.ndarray,
    triangles: np.ndarray,
    outline: np.ndarray,
    size: tuple[int, int],
) -> CanonicalDepth:
    """Dense depth of the canonical view from the mesh (``outline``: indices of the face oval)."""
    depth = rasterise_mesh(vertices, vertex_depth, triangles, size)
    face = _outline_mask(vertices[outline], size)
    holes = face & (depth <= 0)
    if holes.any():
        ys, xs = np.nonzero(holes)
        filled = LinearNDInterpolator(vertices[:, :2], vertex_depth)(np.stack([xs, ys], axis=1))
        depth[ys, xs] = np.where(np.isfinite(filled), filled, 0.0)
    face &= depth > 0

    lo, hi = vertices[outline].min(axis=0), vertices[outline].max(axis=0)
    half_w, face_h = (hi[0] - lo[0]) / 2, hi[1] - lo[1]
    centre = ((lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2 - HEAD_TOP_FACTOR * face_h / 2)
    axes = (HEAD_WIDTH_FACTOR * half_w, face_h / 2 * (1 + HEAD_TOP_FACTOR))
    head_u8 = np.zeros(size, np.uint8)
    cv2.ellipse(head_u8, (centre, (2 * axes[0], 2 * axes[1]), 0.0), 1, -1)
    head = head_u8.astype(bool) | face

    # Nearest face pixel for every other pixel, and the distance to it.
    distance, labels = cv2.distanceTransformWithLabels(
        (~face).astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
    )
    fy, fx = np.nonzero(face)
    nearest = np.zeros(labels.max() + 1)
    order = labels[fy, fx]
    nearest[order] = depth[fy, fx]
    radius = max(half_w, 1.0)
    reach = np.minimum(distance, radius)
    curved = nearest[labels] + radius - np.sqrt(radius**2 - reach**2)
    background = float(depth[face].max() + radius)
    out = np.where(face, depth, np.where(head, curved, background)).astype(np.float32)
    return CanonicalDepth(depth=out, face_mask=face, head_mask=head)


def observed_depth(canonical: np.ndarray, camera: PinholeCamera, canonical_to_observed: Pose) -> np.ndarray:
    """Depth of an observed view by splatting the canonical surface into it; splat holes take the
    nearest splatted depth (they are sub-pixel gaps where the surface stretches)."""
    import torch

    splat, holes = render_depth(torch.from_numpy(canonical.astype(np.float32)), camera, canonical_to_observed)
    depth = splat.numpy().astype(np.float32)
    hole = holes.numpy()
    if hole.any() and not hole.all():
        _, labels = cv2.distanceTransformWithLabels(
            hole.astype(np.uint8), cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL
        )
        ys, xs = np.nonzero(~hole)
        fill = np.zeros(labels.max() + 1, np.float32)
        fill[labels[ys, xs]] = depth[ys, xs]
        depth = np.where(hole, fill[labels], depth)
    return depth
