"""Seam: does the border of a composed region draw an edge the source frame does not have?

Issue 16's acceptance: "across the blend region's border, the composed frame's gradient energy stays within
10 % of the source frame's". Defined here, per frame, from three inputs: the source frame, the composed
frame, and the *written region* (a bool mask, as ``put_back`` returns it: every pixel outside it is the
source's own).

- **Band**: the pixels within ``k`` px of the region's border, on both sides (signed distance to the
  border in [-k, k]). ``k`` scales with the region's size: ``k = max(2, round(sqrt(area) / 110))``, where
  ``area`` is the region's pixel count, so a 1080p face (a lower-face region of about 330 px a side) gets
  k = 3, and a 512 px frame's 160 px region gets 2. The frame's edge is no border (a region that runs off
  the frame has no band there).
- **Rings across the feather**: a soft-masked composition changes nothing in the last pixels of its
  region (the mask is ~0 there), so the band on the border alone would read 1 for any feathered paste,
  hiding an edge drawn a few pixels inside. The same band is therefore also laid at depths k, 2k, ... up
  to ``sqrt(area) / 10`` inside the region (16 px for a 160 px region), the zone where the composed
  content takes over from the source; the score is the ring farthest from 1. Deeper inside, the content
  is the new mouth and differs from the source by design.
- **Gradient energy**: luma (BT.709 weights on 8-bit RGB), 3x3 Sobel derivatives scaled to levels per
  pixel (divided by 8), squared magnitude gx² + gy², averaged over a ring.
- **Ratio** = composed energy / source energy, each with a floor of ``ENERGY_FLOOR`` (1 level² per px²,
  about what sensor noise alone gives) added, so a flat band does not turn a rounding error into a seam.
  A hard step along the border raises the ratio; a border that smears the source's texture lowers it:
  both are visible, so "within 10 %" means |ratio - 1| <= 0.1. ``border_ratio`` is the ring on the
  border itself (the literal "across the border" figure).
- **Jaw ratio**: the same over the rings' part below the mouth (rows below ``below``; by default the
  region's centroid row). That part crosses the jaw line, where an under-trained composition draws a
  "second jaw line".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

#: Band half-width per square root of the region's area (k = 3 px for a 330 px region at 1080p).
BAND_PER_SIDE = 1 / 110
MIN_BAND_PX = 2
#: Rings are laid down to this depth inside the region, per square root of its area.
DEPTH_PER_SIDE = 1 / 10
#: Added to both energies (levels² per px²): the ratio of two nearly flat bands stays near 1.
ENERGY_FLOOR = 1.0
#: Issue 16's tolerance: the composed band's energy within 10 % of the source's.
TOLERANCE = 0.1
_LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # BT.709


@dataclass(frozen=True)
class SeamScore:
    """One frame's seam figures (NaN ratios where the region has no border: nothing was written)."""

    ratio: float  # composed / source gradient energy: the ring farthest from 1
    jaw_ratio: float  # the same over the rings' part below the mouth
    border_ratio: float  # the ring on the border itself
    depth_px: int  # depth (px inside the region) of the ring ``ratio`` comes from
    band_px: int  # k: the rings' half-width
    band_pixels: int  # pixels of the border ring
    jaw_pixels: int  # pixels of the border ring below the mouth
    source_energy: float  # mean squared gradient magnitude over the border ring, levels² per px²
    composed_energy: float

    def within(self, tolerance: float = TOLERANCE) -> bool:
        """|ratio - 1| <= tolerance (False where undefined)."""
        return bool(abs(self.ratio - 1) <= tolerance)


def band_half_width(region: np.ndarray) -> int:
    """k for ``region`` (module doc)."""
    return max(MIN_BAND_PX, round(BAND_PER_SIDE * math.sqrt(float(np.count_nonzero(region)))))


def signed_distance(region: np.ndarray) -> np.ndarray:
    """(H, W) float32 distance to ``region``'s border: positive inside (1 on its outermost pixels), negative
    outside (-1 next to it). The frame's edge is no border: pixels there get the distance of the nearest
    true border."""
    inside = region.astype(np.uint8)
    # one replicated pixel around the frame, so the frame's edge reads as neither inside nor outside border
    pad = cv2.copyMakeBorder(inside, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    din = cv2.distanceTransform(pad, cv2.DIST_L2, 5)[1:-1, 1:-1]
    dout = cv2.distanceTransform(1 - pad, cv2.DIST_L2, 5)[1:-1, 1:-1]
    return np.where(region, din, 1.0 - dout).astype(np.float32)


def border_band(region: np.ndarray, k: int, depth: float = 0.0) -> np.ndarray:
    """(H, W) bool: the pixels within ``k`` px of ``region``'s border moved ``depth`` px inside it."""
    d = signed_distance(region) - 0.5  # the border between the outermost inside and outside pixels
    return np.abs(d - depth) <= k


def gradient_energy(frame: np.ndarray) -> np.ndarray:
    """(H, W) float32 squared Sobel gradient magnitude of the luma of an (H, W, 3) uint8 RGB frame, in
    8-bit levels per pixel, squared."""
    luma = frame.astype(np.float32) @ _LUMA
    gx = cv2.Sobel(luma, cv2.CV_32F, 1, 0, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REPLICATE)
    gy = cv2.Sobel(luma, cv2.CV_32F, 0, 1, ksize=3, scale=1 / 8, borderType=cv2.BORDER_REPLICATE)
    return gx * gx + gy * gy


def seam_score(
    source: np.ndarray,
    composed: np.ndarray,
    region: np.ndarray,
    *,
    band_px: int | None = None,
    max_depth: float | None = None,
    below: float | None = None,
) -> SeamScore:
    """The seam figures of ``composed`` over ``source`` (both (H, W, 3) uint8) for the written ``region``
    (H, W) bool. ``band_px``: k (default ``band_half_width``); ``max_depth``: the deepest ring, px (default
    ``DEPTH_PER_SIDE`` x sqrt(area); 0: the border ring only); ``below``: the row under which the rings
    count as the jaw's (default: the region's centroid row). See the module doc."""
    if source.shape != composed.shape or source.shape[:2] != region.shape:
        raise ValueError(
            f"shapes differ: source {source.shape}, composed {composed.shape}, region {region.shape}"
        )
    nan = float("nan")
    k = band_px if band_px is not None else band_half_width(region)
    if not region.any():
        return SeamScore(nan, nan, nan, 0, k, 0, 0, nan, nan)
    area = float(np.count_nonzero(region))
    depth = DEPTH_PER_SIDE * math.sqrt(area) if max_depth is None else max_depth
    # Only the region's neighbourhood is filtered: the crop keeps a margin for the outer band and Sobel.
    ys, xs = np.nonzero(region)
    h, w = region.shape
    y0, y1 = max(0, ys.min() - k - 2), min(h, ys.max() + k + 3)
    x0, x1 = max(0, xs.min() - k - 2), min(w, xs.max() + k + 3)
    dist = signed_distance(region[y0:y1, x0:x1]) - 0.5
    e_src = gradient_energy(source[y0:y1, x0:x1])
    e_out = gradient_energy(composed[y0:y1, x0:x1])
    row = float(ys.mean()) if below is None else float(below)
    lower = np.arange(y0, y1)[:, None] > row

    def ratio(where: np.ndarray) -> float:
        if not where.any():
            return nan
        return float((e_out[where].mean() + ENERGY_FLOOR) / (e_src[where].mean() + ENERGY_FLOOR))

    def worst(values: list[tuple[float, int]]) -> tuple[float, int]:
        finite = [(r, d) for r, d in values if np.isfinite(r)]
        return max(finite, key=lambda rd: abs(rd[0] - 1)) if finite else (nan, 0)

    rings = [(np.abs(dist - d) <= k, d) for d in range(0, int(depth) + 1, k)]
    border = rings[0][0]
    if not border.any():  # the region fills the frame: no border anywhere
        return SeamScore(nan, nan, nan, 0, k, 0, 0, nan, nan)
    ratio_all, depth_px = worst([(ratio(ring), d) for ring, d in rings])
    jaw_ratio, _ = worst([(ratio(ring & lower), d) for ring, d in rings])
    return SeamScore(
        ratio=ratio_all,
        jaw_ratio=jaw_ratio,
        border_ratio=ratio(border),
        depth_px=depth_px,
        band_px=k,
        band_pixels=int(border.sum()),
        jaw_pixels=int((border & lower).sum()),
        source_energy=float(e_src[border].mean()),
        composed_energy=float(e_out[border].mean()),
    )


@dataclass(frozen=True)
class SeamSummary:
    """Seam ratios over many frames (frames without a border left out and counted)."""

    frames: int  # frames given
    measured: int  # frames with a border
    median: float
    p95: float
    max: float
    min: float
    within: float  # share of measured frames with |ratio - 1| <= tolerance
    tolerance: float = TOLERANCE

    def to_dict(self) -> dict[str, float | int]:
        return {
            "frames": self.frames,
            "measured": self.measured,
            "median": self.median,
            "p95": self.p95,
            "max": self.max,
            "min": self.min,
            "within": self.within,
            "tolerance": self.tolerance,
        }


def summarise(ratios: Sequence[float] | np.ndarray, tolerance: float = TOLERANCE) -> SeamSummary:
    """Median, 95th percentile, max, min and the share within ``tolerance`` of per-frame ratios."""
    values = np.asarray(ratios, np.float64)
    finite = values[np.isfinite(values)]
    if not len(finite):
        nan = float("nan")
        return SeamSummary(len(values), 0, nan, nan, nan, nan, nan, tolerance)
    return SeamSummary(
        frames=len(values),
        measured=len(finite),
        median=float(np.median(finite)),
        p95=float(np.percentile(finite, 95)),
        max=float(finite.max()),
        min=float(finite.min()),
        within=float(np.mean(np.abs(finite - 1) <= tolerance)),
        tolerance=tolerance,
    )
