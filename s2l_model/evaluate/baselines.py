"""Direct-paste baselines: a competitor's simple, strong way to put another frame's mouth into a frame.

A source frame (for FROZEN the canonical frame, for RETRIEVAL the training frame with the nearest speech)
is aligned to the target frame by a similarity transform (rotation, uniform scale, translation) fitted by
least squares to the lip corners and the nose of both frames' tracked landmarks, warped at full resolution
(``cv2.warpAffine``), and pasted through a feathered mask: a convex hull of the target's landmarks, grown
a few px, with a Gaussian fall-off outside. No learned part, no composition of s2l's own: it measures what
s2l has to beat.

Two masks (``PasteMask``): ``MOUTH_MASK``, the hull of the 40 lip points grown and feathered by 0.05 mouth
widths each (the default: the strongest of the hulls tried on the dev clip's held-out frames, 28.8 dB in the
square mouth box against 26.2 dB for the lower face, and the figure an independent measurement reported),
and ``LOWER_FACE_MASK``, lips + nose base + jaw (the whole region a lip model redraws; the source's jaw
line then replaces the target's, which shows wherever the two heads differ).

The baselines read the *target* frame's own tracked landmarks (lip corners for the fit, the lip outline for
the mask): on held-out frames that is the truth's mouth outline, which s2l never sees. A generous baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from s2l_model.geometry.topology import MOUTH_LEFT, MOUTH_RIGHT, landmark_set

#: Fit points: the outer lip corners and the nose tip, base and bridge (rigid with the skull).
NOSE_FIT_POINTS = (1, 4, 5, 195, 197, 6)
FIT_POINTS = (MOUTH_LEFT, MOUTH_RIGHT, *NOSE_FIT_POINTS)
#: The lower face around the lips: under the nose (subnasale, nostril wings) and the jaw from one mouth
#: corner's height round the chin to the other's (mediapipe face-oval points).
NOSE_BASE_POINTS = (2, 98, 327)
JAW_POINTS = (172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397)
FEATHER_CUT_SIGMAS = 4.0  # the fall-off ends (mask 0) this many sigmas outside the grown hull


@dataclass(frozen=True)
class PasteMask:
    """Which landmarks' hull is pasted, and its growth and Gaussian fall-off per mouth width (the
    target's lip-corner distance)."""

    name: str
    points: str  # "mouth" (the 40 lip points) or "lower-face" (lips, nose base, jaw)
    grow_per_mouth: float
    feather_per_mouth: float

    def indices(self) -> tuple[int, ...]:
        lips = landmark_set("lips")
        return tuple(lips) if self.points == "mouth" else (*lips, *NOSE_BASE_POINTS, *JAW_POINTS)


MOUTH_MASK = PasteMask("mouth", "mouth", grow_per_mouth=0.05, feather_per_mouth=0.05)
LOWER_FACE_MASK = PasteMask("lower-face", "lower-face", grow_per_mouth=0.05, feather_per_mouth=0.06)
PASTE_MASKS = {m.name: m for m in (MOUTH_MASK, LOWER_FACE_MASK)}


def similarity_fit(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(2, 3) float64 similarity transform (rotation, uniform scale, translation; no reflection) that maps
    the (P, 2) ``source`` points onto ``target`` with the least squared error (Umeyama's closed form)."""
    src, dst = np.asarray(source, np.float64), np.asarray(target, np.float64)
    if src.shape != dst.shape or src.ndim != 2 or src.shape[1] != 2 or len(src) < 2:
        raise ValueError(f"need matching (P >= 2, 2) point sets, got {src.shape} and {dst.shape}")
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    var_s = float((a**2).sum()) / len(src)
    if var_s == 0:
        raise ValueError("the source points coincide: no similarity transform")
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rotation = u @ sign @ vt
    scale = float(np.trace(np.diag(d) @ sign)) / var_s
    translation = mu_d - scale * rotation @ mu_s
    return np.hstack([scale * rotation, translation[:, None]])


def feathered_hull_mask(points: np.ndarray, size: tuple[int, int], grow: float, feather: float) -> np.ndarray:
    """(H, W) float32 mask for ``size`` = (width, height): 1 inside the convex hull of the (P, 2)
    ``points`` grown by ``grow`` px, then a Gaussian fall-off exp(-d² / 2 feather²) with the distance d
    beyond the grown hull, cut to 0 at ``FEATHER_CUT_SIGMAS`` feathers (a step of 3e-4: invisible)."""
    width, height = size
    hull = cv2.convexHull(np.round(np.asarray(points, np.float64) * 16).astype(np.int32))
    inside = np.zeros((height, width), np.uint8)
    cv2.fillConvexPoly(inside, hull, 1, lineType=cv2.LINE_8, shift=4)  # 1/16 px vertices
    outside = cv2.distanceTransform(1 - inside, cv2.DIST_L2, 5)
    beyond = np.maximum(outside - grow, 0.0)
    if feather <= 0:
        return (beyond == 0).astype(np.float32)
    mask = np.exp(-0.5 * (beyond / feather) ** 2)
    mask[beyond > FEATHER_CUT_SIGMAS * feather] = 0.0
    return mask.astype(np.float32)


@dataclass(frozen=True)
class Paste:
    """A pasted frame: ``frame`` (H, W, 3) uint8, ``region`` (H, W) bool (every pixel outside is the
    target's), and the alignment's RMS error on the fit points, px."""

    frame: np.ndarray
    region: np.ndarray
    fit_error_px: float


def paste_mouth(
    target: np.ndarray,
    target_landmarks: np.ndarray,
    source: np.ndarray,
    source_landmarks: np.ndarray,
    mask: PasteMask = MOUTH_MASK,
) -> Paste:
    """``source``'s mouth aligned onto ``target`` (both (H, W, 3) uint8 RGB frames of one size, with their
    (478, >=2) landmarks in frame pixels) and pasted through ``mask``'s feathered hull of the target's
    landmarks (module doc)."""
    fit = list(FIT_POINTS)
    src_pts, dst_pts = source_landmarks[fit, :2], target_landmarks[fit, :2]
    matrix = similarity_fit(src_pts, dst_pts)
    moved = src_pts @ matrix[:, :2].T + matrix[:, 2]
    error = float(np.sqrt(((moved - dst_pts) ** 2).sum(axis=1).mean()))
    h, w = target.shape[:2]
    mouth = float(np.linalg.norm(target_landmarks[MOUTH_RIGHT, :2] - target_landmarks[MOUTH_LEFT, :2]))
    weight = feathered_hull_mask(
        target_landmarks[list(mask.indices()), :2],
        (w, h),
        grow=mask.grow_per_mouth * mouth,
        feather=mask.feather_per_mouth * mouth,
    )
    region = weight > 0
    ys, xs = np.nonzero(region)
    frame = target.copy()
    if not len(ys):
        return Paste(frame, region, error)
    # Warp only the region's bounding box: the same pixels as a whole-frame warp, a fraction of the work.
    x0, y0, x1, y1 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
    shifted = matrix.copy()
    shifted[:, 2] -= (x0, y0)
    warped = cv2.warpAffine(
        source, shifted, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    m = weight[y0:y1, x0:x1, None]
    box = frame[y0:y1, x0:x1].astype(np.float32)
    blended = box + m * (warped.astype(np.float32) - box)
    frame[y0:y1, x0:x1] = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    return Paste(frame, region, error)
