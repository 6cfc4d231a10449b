"""Landmark-based measures: the mouth region every image metric uses, and LMD.

Landmarks are mediapipe's 478-point face mesh in frame pixels, one (478, 3) array per frame, NaN where no
face was found (``s2l_model.tracking.track_video``'s raw output: per-frame detections, no smoothing, so a
metric never inherits the tracker's temporal filter).

**Mouth region** (defined once, here): a box centred on the centroid of the 40 mediapipe lip points of the
*reference* frame, 1.6 mouth widths wide and 1.1 mouth widths tall, where the mouth width is the median
distance between the outer lip corners over the reference video. The size is fixed per video so that
every frame's crop has the same shape; the centre follows the reference frame by frame. Frames without a
reference face take the box of the nearest frame that has one. 1.6 x 1.1 widths covers the lips with the
philtrum and the upper chin around them, the area a lip model redraws.

**Square mouth region** (the named variant ``mouth_square``): the same centre and the same median mouth
width, but a square 1.6 mouth widths a side. It is the box an independent measurement of issue 16 used, so
s2l's figures can be set beside published or third-party ones; it takes in more chin and nose base, where a
composition's errors show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2l_model.geometry.topology import EYE_CORNERS, MOUTH_LEFT, MOUTH_RIGHT, landmark_set

REGION_WIDTH_PER_MOUTH = 1.6
REGION_HEIGHT_PER_MOUTH = 1.1
SQUARE_SIDE_PER_MOUTH = 1.6
_OUTER_EYE_CORNERS = (EYE_CORNERS[0], EYE_CORNERS[3])


def lip_points() -> np.ndarray:
    return np.asarray(landmark_set("lips"))


def found_mask(landmarks: np.ndarray) -> np.ndarray:
    """(N,) True where a frame has landmarks."""
    return ~np.isnan(landmarks[:, :, :2]).any(axis=(1, 2))


@dataclass(frozen=True)
class MouthRegions:
    """Per-frame mouth boxes of one fixed size: ``x0``/``y0`` (N,) ints, ``width``/``height`` px."""

    x0: np.ndarray
    y0: np.ndarray
    width: int
    height: int
    width_per_mouth: float = REGION_WIDTH_PER_MOUTH  # the factors the size came from, for ``describe``
    height_per_mouth: float = REGION_HEIGHT_PER_MOUTH

    def crop(self, frame: np.ndarray, index: int) -> np.ndarray:
        x, y = int(self.x0[index]), int(self.y0[index])
        return frame[y : y + self.height, x : x + self.width]

    def crop_around(self, frame: np.ndarray, index: int, width: int, height: int) -> np.ndarray:
        """A ``width`` x ``height`` crop with the same centre as the region (shifted to stay inside)."""
        h, w = frame.shape[:2]
        width, height = min(w, width), min(h, height)
        cx = int(self.x0[index]) + self.width // 2
        cy = int(self.y0[index]) + self.height // 2
        x0, y0 = int(np.clip(cx - width // 2, 0, w - width)), int(np.clip(cy - height // 2, 0, h - height))
        return frame[y0 : y0 + height, x0 : x0 + width]

    def describe(self) -> str:
        if self.width_per_mouth == self.height_per_mouth:
            shape = f"square, {self.width_per_mouth:g} mouth widths a side"
        else:
            shape = f"{self.width_per_mouth:g} x {self.height_per_mouth:g} mouth widths"
        return f"{self.width}x{self.height} px box centred on the reference lips ({shape})"


def _nearest_valid(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Copy each invalid row from the nearest valid one (ties go to the earlier frame)."""
    good = np.flatnonzero(valid)
    position = np.clip(np.searchsorted(good, np.arange(len(values))), 1, max(1, len(good) - 1))
    if len(good) == 1:
        return np.repeat(values[good], len(values), axis=0)
    left, right = good[position - 1], good[position]
    nearest = np.where(np.arange(len(values)) - left <= right - np.arange(len(values)), left, right)
    return values[nearest]


def mouth_regions(
    reference: np.ndarray,
    frame_width: int,
    frame_height: int,
    *,
    width_per_mouth: float = REGION_WIDTH_PER_MOUTH,
    height_per_mouth: float = REGION_HEIGHT_PER_MOUTH,
) -> MouthRegions:
    """The mouth region of every frame from the reference landmarks (N, 478, >=2); see the module doc.
    The box is ``width_per_mouth`` x ``height_per_mouth`` median mouth widths (default: the 1.6 x 1.1 box)."""
    valid = found_mask(reference)
    if not valid.any():
        raise ValueError("no reference frame has a face: the mouth region is undefined")
    corners = reference[valid][:, [MOUTH_LEFT, MOUTH_RIGHT], :2]
    mouth_width = float(np.median(np.linalg.norm(corners[:, 1] - corners[:, 0], axis=-1)))
    # even sizes so a 2x2 chroma subsampling boundary never splits the box; at least SSIM's 11 px window
    width = min(frame_width, max(12, 2 * round(width_per_mouth * mouth_width / 2)))
    height = min(frame_height, max(12, 2 * round(height_per_mouth * mouth_width / 2)))
    centres = np.zeros((len(reference), 2))
    centres[valid] = reference[valid][:, lip_points(), :2].mean(axis=1)
    centres = _nearest_valid(centres, valid)
    x0 = np.clip(np.round(centres[:, 0] - width / 2), 0, frame_width - width).astype(int)
    y0 = np.clip(np.round(centres[:, 1] - height / 2), 0, frame_height - height).astype(int)
    return MouthRegions(x0, y0, width, height, width_per_mouth, height_per_mouth)


def square_mouth_regions(reference: np.ndarray, frame_width: int, frame_height: int) -> MouthRegions:
    """The square variant (module doc): centred like ``mouth_regions``, ``SQUARE_SIDE_PER_MOUTH`` median
    mouth widths a side."""
    side = SQUARE_SIDE_PER_MOUTH
    return mouth_regions(reference, frame_width, frame_height, width_per_mouth=side, height_per_mouth=side)


def inter_ocular(landmarks: np.ndarray) -> np.ndarray:
    """(N,) distance between the outer eye corners in pixels (NaN without a face)."""
    a, b = _OUTER_EYE_CORNERS
    return np.linalg.norm(landmarks[:, a, :2] - landmarks[:, b, :2], axis=-1)


def lmd(prediction: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Landmark distance per frame over the lip points: (pixels, fraction of the reference inter-ocular).

    Mean Euclidean distance in the image plane between corresponding lip landmarks of the two videos,
    without alignment (both videos share the camera and the head pose in every s2l comparison).
    NaN where either frame has no face.
    """
    lips = lip_points()
    distance = np.linalg.norm(prediction[:, lips, :2] - reference[:, lips, :2], axis=-1).mean(axis=1)
    return distance, distance / inter_ocular(reference)
