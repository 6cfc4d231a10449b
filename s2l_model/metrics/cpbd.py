"""CPBD: the no-reference sharpness metric of Narvekar & Karam (IEEE TIP 2011).

"A no-reference image blur metric based on the cumulative probability of blur detection (CPBD)". The metric
is the fraction of edge pixels whose blur a viewer would *not* notice: each edge's width is compared with the
"just noticeable blur" (JNB) width for the local contrast, turned into a probability of blur detection, and
CPBD is the share of edges with that probability at most P_JNB = 63 %. Higher means sharper, range [0, 1].

The steps and constants follow the reference Python port (PyPI ``cpbd`` 1.0.7, the usual Python version),
so values agree with it; the code here is our own and vectorised (the port loops over every pixel in Python:
~0.4 s per 512x512 frame against ~50 ms here, most of it scikit-image's Canny):

1. Integer grey levels 0..255 (RGB → ITU-R BT.601 luma; float input rounded and clipped, see ``_to_gray``).
2. Canny edges (scikit-image, sigma 1, thresholds 0.1 / 0.2 grey levels — the port hands a float 0..255
   image to ``canny`` with its defaults, which are absolute for float input, hence so low) decide which
   64x64 blocks are edge blocks: more than 0.2 % of their pixels on an edge.
3. Vertical edges for width measurement: the squared response of a normalised horizontal-derivative Sobel,
   zeroed at or below ``2 * sqrt(mean)`` of itself, then thinned to local maxima across rows or columns.
4. Marziliano edge width along the row: the gradient angle (central differences) is quantised to 45°; for a
   rising edge (0°) the width is how far the intensity keeps strictly decreasing to the left plus how far it
   keeps strictly increasing to the right (mirrored for a falling edge, ±180°), each side 1 + at most 100
   steps, starting one pixel away from the edge pixel. Other angles get no width.
5. Per edge block, the JNB width is 5 if int(max - min) ≤ 50 else 3; each edge's probability of blur
   detection is ``1 - exp(-(width / jnb) ** 3.6)``, rounded to whole percent; CPBD = share ≤ 63 %.

Only whole 64x64 blocks count (as in the port): the rightmost / bottom remainder of an image whose size is
not a multiple of 64 is left out, so an 80x120 crop is scored on its top-left 64x64 block, and an image
smaller than 64 in either direction has no blocks. No edge block or no measured edge → 0.0 (so a flat
image scores 0.0, the "no sharp edges" end of the scale).

One deliberate difference: the port skips all widths when every pixel's gradient angle is exactly 0 (an
``np.any`` guard, so e.g. an image of purely dark-to-bright vertical steps scored 0.0); here such edges are
measured like any other. On natural images the guard never triggers.

The metric is not scale-invariant (Canny thresholds and the JNB contrast are in grey levels), so float
input must be on the 0..255 scale, not 0..1; it is rounded to whole grey levels like an 8-bit frame.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from skimage.feature import canny

BLOCK = 64  # block side in pixels
EDGE_BLOCK_FRACTION = 0.002  # a block is an edge block with more than this share of Canny edge pixels
JNB_LOW_CONTRAST, JNB_HIGH_CONTRAST = 5.0, 3.0  # just-noticeable widths (perceptual experiments)
JNB_CONTRAST_LIMIT = 50  # int(block max - min) at or below this is "low contrast"
BETA = 3.6  # slope of the psychometric function
P_JNB_PERCENT = 63  # P_JNB = 63 %, on the whole-percent histogram the port uses
MAX_WALK = 100  # the width walk stops after this many steps per side

# ITU-R BT.601 luma weights (what PIL's "L" and OpenCV's gray conversions use).
_BT601 = np.array([0.299, 0.587, 0.114])


def cpbd(image: np.ndarray) -> float:
    """CPBD sharpness of one image, in [0, 1] (higher = sharper).

    ``image``: uint8 or float (0..255 scale) array, HxW grayscale or HxWx3 RGB. Returns 0.0 when the image
    has no 64x64 edge block (flat, or smaller than 64 pixels in a direction) or no measurable edge in one.
    """
    gray = _to_gray(image)
    height, width = gray.shape
    n_rows, n_cols = height // BLOCK, width // BLOCK
    if n_rows == 0 or n_cols == 0:
        return 0.0

    # Both edge maps and the widths are computed on the whole image (the filters see past block borders).
    canny_edges = canny(gray, sigma=1.0, low_threshold=0.1, high_threshold=0.2)
    widths = _edge_widths(gray, _vertical_sobel_edges(gray))

    def blocks(a: np.ndarray) -> np.ndarray:  # (n_rows, BLOCK, n_cols, BLOCK) view of the whole blocks
        return a[: n_rows * BLOCK, : n_cols * BLOCK].reshape(n_rows, BLOCK, n_cols, BLOCK)

    is_edge_block = np.count_nonzero(blocks(canny_edges), axis=(1, 3)) > BLOCK * BLOCK * EDGE_BLOCK_FRACTION
    pixels = blocks(gray)
    contrast = np.floor(pixels.max(axis=(1, 3)) - pixels.min(axis=(1, 3)))  # the port's int() of it
    jnb = np.where(contrast <= JNB_CONTRAST_LIMIT, JNB_LOW_CONTRAST, JNB_HIGH_CONTRAST)

    block_widths = blocks(widths)
    counted = (block_widths > 0) & is_edge_block[:, None, :, None]
    edge_widths = block_widths[counted]
    if edge_widths.size == 0:
        return 0.0
    edge_jnb = np.broadcast_to(jnb[:, None, :, None], block_widths.shape)[counted]
    p_blur = 1.0 - np.exp(-(np.abs(edge_widths / edge_jnb) ** BETA))
    # The cumulative histogram up to P_JNB: whole-percent buckets (round half to even, like Python's round).
    return float(np.count_nonzero(np.rint(p_blur * 100.0) <= P_JNB_PERCENT) / edge_widths.size)


def _to_gray(image: np.ndarray) -> np.ndarray:
    """HxW or HxWx3 (RGB) input → HxW float64 integer grey levels 0..255."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] == 3:
        gray = array.astype(np.float64) @ _BT601
    elif array.ndim == 2:
        gray = array.astype(np.float64)
    else:
        raise ValueError(f"expected an HxW grayscale or HxWx3 RGB image, got shape {array.shape}")
    if not np.isfinite(gray).all():
        raise ValueError("image contains NaN or infinite values")
    # 8-bit grey levels, as the reference gets from its image reader. This matters: the width walk stops
    # at the first flat step (equal neighbours), which unquantised luma almost never has — on the dev clip
    # that made edges wider and CPBD ~0.03 lower. Rounding also scores a float frame like the uint8 frame it
    # would be saved as, and keeps the filters' arithmetic exact.
    return np.clip(np.rint(gray), 0.0, 255.0)


def _vertical_sobel_edges(gray: np.ndarray) -> np.ndarray:
    """Boolean map of vertical edges (Octave ``edge(..., 'sobel')`` as the port does it)."""
    # Horizontal derivative smoothed vertically, kernel normalised by its absolute sum (8); reflect borders.
    response = ndimage.sobel(gray, axis=1, mode="reflect") / 8.0
    strength = response * response
    # The port compares the *squared* strength with 2 * sqrt(mean squared strength); kept for agreement.
    strength[strength <= 2.0 * np.sqrt(strength.mean())] = 0.0
    # Thinning: keep strict local maxima across the row or across the column (zeros beyond the border).
    padded = np.pad(strength, 1)
    centre = padded[1:-1, 1:-1]
    across_row = (centre > padded[1:-1, :-2]) & (centre > padded[1:-1, 2:])
    across_col = (centre > padded[:-2, 1:-1]) & (centre > padded[2:, 1:-1])
    return across_row | across_col


def _edge_widths(gray: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Marziliano edge widths (float64, 0 where no width is measured) at the edge pixels."""
    height, width = gray.shape
    widths = np.zeros((height, width))
    # Widths are measured at edge pixels off the image border only; work on those few pixels, not the image.
    rows, cols = np.nonzero(edges[1:-1, 1:-1])
    rows += 1
    cols += 1
    # Central differences, exactly what np.gradient gives inside the image.
    grad_x = (gray[rows, cols + 1] - gray[rows, cols - 1]) / 2.0
    grad_y = (gray[rows + 1, cols] - gray[rows - 1, cols]) / 2.0
    # Angle in degrees; the port sets it to 0 wherever grad_x == 0 (so those count as rising edges).
    # (Its extra case "grad_x == 0 and grad_y == pi/2 → 90°" cannot happen on integer grey levels.)
    angle = np.where(grad_x != 0, np.degrees(np.arctan2(grad_y, grad_x)), 0.0)
    quantised = 45.0 * np.round(angle / 45.0)  # round half to even, as the port's np.round
    rising = quantised == 0.0
    falling = np.abs(quantised) == 180.0

    # Steps along each row: step[:, j] = gray[:, j + 1] - gray[:, j]. An edge pixel at column c walks left
    # over steps c-2, c-3, ... and right over steps c+1, c+2, ... (the two steps touching c are not tested).
    step = np.diff(gray, axis=1)
    for selected, monotonic in ((rising, step > 0), (falling, step < 0)):
        # Rising edge: the intensity must keep falling to the left and rising to the right, i.e. every step
        # walked over is > 0 on both sides (< 0 for a falling edge).
        r, c = rows[selected], cols[selected]
        ends_at, starts_at = _run_lengths(monotonic)
        left = np.where(c >= 2, ends_at[r, np.maximum(c - 2, 0)], 0)  # run ending at step c-2
        right = np.where(c + 1 <= width - 2, starts_at[r, np.minimum(c + 1, width - 2)], 0)  # from c+1
        widths[r, c] = 2 + np.minimum(left, MAX_WALK) + np.minimum(right, MAX_WALK)
    return widths


def _run_lengths(flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per row of a boolean (rows, n) array: length of the all-True run ending at each j (counting leftward)
    and of the one starting at each j (counting rightward); 0 where flags[:, j] is False.

    Done with running max / min of the indices of False entries, so it is O(rows * n) numpy work instead of
    a Python walk per edge pixel.
    """
    n = flags.shape[1]
    index = np.arange(n)
    last_false = np.maximum.accumulate(np.where(flags, -1, index), axis=1)  # at or before j, -1 if none
    next_false = np.minimum.accumulate(np.where(flags, n, index)[:, ::-1], axis=1)[:, ::-1]  # at/after j
    return index - last_false, next_false - index
