"""Mixing two footage frames at a loop's wrap: a dissolve, aligned where both show the same shot.

Footage with a cut often loops between two framings of one shot (a punch-in, a reframe): a plain dissolve
then shows two heads for half a second. Where one small affine change of the picture (found by ECC image
alignment on grey thumbnails) maps one frame onto the other, both frames are moved towards each other as
they mix (a morph of the whole frame: each is warped ``weight`` of the way to the other's framing), so
the mix shows one head that glides from one framing into the other. Where the frames are no such pair
(another shot, a change too large to be a reframe, a poor fit), the dissolve stays plain; where they are
already aligned, nothing is resampled.
"""

from __future__ import annotations

import cv2
import numpy as np

#: Width of the grey thumbnails the alignment is found on (enough for a reframe, cheap at 1080p).
ALIGN_WIDTH = 256
#: ECC's correlation after alignment below which the two frames are not one shot.
MIN_CORRELATION = 0.85
#: A reframe changes the scale by at most this factor and moves the picture by at most this share of its
#: width; anything larger is a different shot, which no warp should pretend to join.
MAX_SCALE = 1.25
MAX_SHIFT = 0.15
#: Frames whose alignment moves no pixel by more than this are mixed without resampling.
MIN_DISPLACEMENT_PX = 0.5


def _grey_thumbnail(frame: np.ndarray) -> tuple[np.ndarray, float]:
    """(h, ALIGN_WIDTH) float32 grey picture of ``frame`` and its scale (thumbnail px per frame px)."""
    height, width = frame.shape[:2]
    scale = ALIGN_WIDTH / width
    size = (ALIGN_WIDTH, max(8, round(height * scale)))
    grey = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)
    return cv2.resize(grey, size, interpolation=cv2.INTER_AREA).astype(np.float32), scale


def align(frame: np.ndarray, other: np.ndarray, initial: np.ndarray | None = None) -> np.ndarray | None:
    """The (2, 3) affine map W, in full-resolution pixels, with ``other(W x) ≈ frame(x)``; None when the two
    frames are not one shot under a small reframe, or are aligned already (a plain mix is then right).

    ``initial``: a map found for a neighbouring pair, where the search starts (fewer iterations) and what
    comes back when this pair finds none (``None`` stays ``None``)."""
    template, scale = _grey_thumbnail(frame)
    moving, _ = _grey_thumbnail(other)
    found = _ecc(template, moving, scale, frame.shape[:2], initial)
    return initial if found is None else found


def _ecc(
    template: np.ndarray,
    moving: np.ndarray,
    scale: float,
    shape: tuple[int, int],
    initial: np.ndarray | None,
) -> np.ndarray | None:
    """ECC's affine map between two thumbnails, in full-resolution pixels, within the reframe limits."""
    warp = np.eye(2, 3, dtype=np.float32)
    if initial is not None:
        warp = initial.astype(np.float32).copy()
        warp[:, 2] *= scale
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, 60, 1e-5)
    try:
        correlation, warp = cv2.findTransformECC(template, moving, warp, cv2.MOTION_AFFINE, criteria, None, 5)
    except cv2.error:  # no convergence: the frames share too little
        return None
    if not np.isfinite(warp).all() or correlation < MIN_CORRELATION:
        return None
    full = warp.astype(np.float64)
    full[:, 2] /= scale  # the linear part is the same at every resolution; the shift scales
    singular = np.linalg.svd(full[:, :2], compute_uv=False)
    height, width = shape
    if singular.max() > MAX_SCALE or singular.min() < 1 / MAX_SCALE:
        return None
    corners = np.array([[0, 0, 1], [width, 0, 1], [0, height, 1], [width, height, 1]], np.float64)
    displacement = np.linalg.norm(corners @ full.T - corners[:, :2], axis=1)
    if displacement.max() > MAX_SHIFT * width:
        return None
    if displacement.max() < MIN_DISPLACEMENT_PX:
        return None
    return full


def _homogeneous(affine: np.ndarray) -> np.ndarray:
    return np.vstack([affine, [0.0, 0.0, 1.0]])


def _warp(image: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """``image`` moved by the (3, 3) affine ``forward`` (its pixel x lands at forward · x)."""
    height, width = image.shape[:2]
    inverse = np.linalg.inv(forward)[:2]
    return cv2.warpAffine(
        image,
        inverse,
        (width, height),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REPLICATE,
    )


def dissolve(
    frame: np.ndarray, other: np.ndarray, weight: float, alignment: np.ndarray | None = None
) -> np.ndarray:
    """``other`` mixed over ``frame`` at ``weight`` (whole frames, rounded to uint8).

    With ``alignment`` (``align(frame, other)``), each frame is first moved ``weight`` of the way towards the
    other's framing, measured from ``frame``: at weight 1 the result is ``other`` as it is, at 0 ``frame``
    as it is, so the mix joins both runs without a step."""
    if alignment is not None and 0.0 < weight < 1.0:
        to_other = _homogeneous(alignment)  # frame's pixel x shows what other shows at to_other · x
        eye = np.eye(3)
        frame = _warp(frame, (1 - weight) * eye + weight * to_other)
        other = _warp(other, (1 - weight) * np.linalg.inv(to_other) + weight * eye)
    mixed = frame.astype(np.float32)
    mixed += weight * (other.astype(np.float32) - mixed)
    return np.round(mixed).astype(np.uint8)
