"""The mouth region: a canonical-space box sized from the mouth and its motion, and soft blending masks.

Box (canonical pixels): centred on the mouth corners of the canonical frame; 1.6 mouth widths wide (room
for the lips to stretch); from above the highest upper lip to below the lowest lower lip seen in any
frame (mapped into canonical space), with margins of 0.15 and 0.3 mouth widths (teeth, the chin's
travel). Sizes are rounded to multiples of 8 for the networks that consume the crop.

Soft mask: 1 inside the box, falling to 0 over a feather of 0.15 mouth widths inside its border (a
smoothstep), so pasted lips blend without a seam. In observed space it is the same mask warped by C2O.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import torch

from s2l_model.geometry.topology import MOUTH_LEFT, MOUTH_RIGHT, landmark_set
from s2l_model.geometry.warp import backward_warp

WIDTH_FACTOR = 1.6
TOP_MARGIN = 0.15
BOTTOM_MARGIN = 0.3
FEATHER = 0.15
MULTIPLE = 8


@dataclass(frozen=True)
class MouthBox:
    x0: int
    y0: int
    width: int
    height: int
    mouth_width: float  # canonical-frame corner-to-corner distance, px

    def to_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def slices(self) -> tuple[slice, slice]:
        return slice(self.y0, self.y0 + self.height), slice(self.x0, self.x0 + self.width)


def _round_up(value: float) -> int:
    return int(MULTIPLE * np.ceil(value / MULTIPLE))


def mouth_box(canonical_landmarks: np.ndarray, lips_over_time: np.ndarray, size: tuple[int, int]) -> MouthBox:
    """Box from the canonical frame's (478, >=2) landmarks and (K, L, 2) lip points of many frames,
    already mapped into canonical space."""
    height, width = size
    left, right = canonical_landmarks[MOUTH_LEFT, :2], canonical_landmarks[MOUTH_RIGHT, :2]
    mouth_w = float(np.linalg.norm(right - left))
    cx = float((left[0] + right[0]) / 2)
    top = float(np.nanpercentile(lips_over_time[..., 1].min(axis=1), 1)) - TOP_MARGIN * mouth_w
    bottom = float(np.nanpercentile(lips_over_time[..., 1].max(axis=1), 99)) + BOTTOM_MARGIN * mouth_w
    box_w = min(_round_up(WIDTH_FACTOR * mouth_w), width - width % MULTIPLE)
    box_h = min(_round_up(bottom - top), height - height % MULTIPLE)
    x0 = int(np.clip(round(cx - box_w / 2), 0, width - box_w))
    y0 = int(np.clip(round(top), 0, height - box_h))
    return MouthBox(x0=x0, y0=y0, width=box_w, height=box_h, mouth_width=mouth_w)


def lip_indices() -> np.ndarray:
    return np.array(landmark_set("lips"), dtype=np.int64)


def soft_mask(box: MouthBox, size: tuple[int, int]) -> np.ndarray:
    """(H, W) float32 canonical mask: 1 inside, smooth ramp to 0 at the box border."""
    height, width = size
    feather = max(1.0, FEATHER * box.mouth_width)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float64)
    inside = np.minimum.reduce(
        [xs - box.x0 + 0.5, box.x0 + box.width - 0.5 - xs, ys - box.y0 + 0.5, box.y0 + box.height - 0.5 - ys]
    )
    t = np.clip(inside / feather, 0.0, 1.0)
    return (t * t * (3 - 2 * t)).astype(np.float32)


def observed_mask(canonical_mask: np.ndarray, c2o: torch.Tensor) -> torch.Tensor:
    """The canonical soft mask carried into an observed frame along its C2O grid (H, W, 2)."""
    warped, inside = backward_warp(torch.as_tensor(canonical_mask)[None], c2o)
    return warped[0] * inside
