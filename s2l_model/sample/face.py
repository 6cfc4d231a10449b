"""Animating a still face photo: the jaw drops by a given amount, the mouth cavity opens.

The photo is scikit-image's ``astronaut`` (NASA, public domain). Its landmarks come from mediapipe's
face mesh once; each frame is then a smooth backward warp of the lower face (lower lip, chin) plus a
painted mouth cavity in the gap that opens below the photo's lower inner lip (its upper teeth stay).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import cv2
import numpy as np

from s2l_model.errors import ProcessingError
from s2l_model.native import quiet_native_stderr

# mediapipe face-mesh indices (canonical topology, 468/478 points)
UPPER_INNER_LIP = (78, 191, 80, 81, 82, 13, 312, 311, 310, 415, 308)
LOWER_INNER_LIP = (78, 95, 88, 178, 87, 14, 317, 402, 318, 324, 308)
LOWER_LIP_OUTER_MID, LOWER_LIP_INNER_MID, UPPER_LIP_INNER_MID = 17, 14, 13
CHIN, JAW_LEFT, JAW_RIGHT, FOREHEAD = 152, 172, 397, 10

CAVITY_RGB = np.array([52.0, 20.0, 24.0])


def sample_face_image() -> np.ndarray:
    """The public-domain astronaut photo (512x512 RGB uint8) shipped with scikit-image."""
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


def detect_landmarks(image: np.ndarray) -> np.ndarray:
    """478x2 pixel landmarks of the single face in ``image`` (mediapipe face mesh, static mode)."""
    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging is noise for users
    import mediapipe as mp

    with (
        quiet_native_stderr(),
        mp.solutions.face_mesh.FaceMesh(
            static_image_mode=True, refine_landmarks=True, max_num_faces=1
        ) as mesh,
    ):
        result = mesh.process(image)
    if not result.multi_face_landmarks:
        raise ProcessingError("no face found in the sample image")
    h, w = image.shape[:2]
    return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark], dtype=np.float64)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


@dataclass(frozen=True)
class HeadPose2D:
    """An in-plane head motion: rotation (degrees, counter-clockwise) about the face centre + shift (px)."""

    angle_deg: float = 0.0
    tx: float = 0.0
    ty: float = 0.0


class TalkingHead:
    """Renders the face with a given jaw opening (pixels) and in-plane head pose."""

    def __init__(self, image: np.ndarray, landmarks: np.ndarray) -> None:
        self.image = image
        self.landmarks = landmarks
        lm = landmarks
        self.upper = lm[list(UPPER_INNER_LIP)]
        self.lower = lm[list(LOWER_INNER_LIP)]
        self.center = (lm[UPPER_LIP_INNER_MID] + lm[LOWER_LIP_INNER_MID]) / 2
        self.mouth_width = float(np.linalg.norm(lm[308] - lm[78]))
        self.lip_thickness = max(2.0, float(lm[LOWER_LIP_OUTER_MID, 1] - lm[LOWER_LIP_INNER_MID, 1]))
        self.chin_y = float(lm[CHIN, 1])
        self.jaw_half_width = float(lm[JAW_RIGHT, 0] - lm[JAW_LEFT, 0]) / 2
        self.face_height = float(lm[CHIN, 1] - lm[FOREHEAD, 1])
        self.face_center = lm.mean(axis=0)
        # Region that can change: from just above the mouth to below the chin, jaw-wide.
        h, w = image.shape[:2]
        x0 = int(max(0, lm[JAW_LEFT, 0] - 0.3 * self.jaw_half_width))
        x1 = int(min(w, lm[JAW_RIGHT, 0] + 0.3 * self.jaw_half_width))
        y0 = int(max(0, self.upper[:, 1].min() - 4))
        y1 = int(min(h, self.chin_y + 0.45 * self.face_height))
        self.roi = (x0, y0, x1, y1)
        xs, ys = np.meshgrid(np.arange(x0, x1, dtype=np.float64), np.arange(y0, y1, dtype=np.float64))
        self._xs, self._ys = xs, ys
        # The jaw hinges below the photo's own lower inner lip: everything above it (upper lip, upper
        # teeth) stays; the newly opened gap becomes mouth cavity. Flat beyond the mouth corners.
        self._lip_line = np.interp(xs, *self._sorted(self.lower))
        self._field = self._displacement_field(xs, ys)

    @staticmethod
    def _sorted(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        order = np.argsort(points[:, 0])
        return points[order, 0], points[order, 1]

    def _horizontal(self, xs: np.ndarray, depth_below_lip: np.ndarray) -> np.ndarray:
        """How much of the jaw drop a point takes, by its x and its depth below the lip line."""
        half = self.mouth_width / 2
        lens = np.sqrt(np.clip(1 - ((xs - self.center[0]) / half) ** 2, 0, 1))  # lips: 0 at the corners
        jaw = np.exp(-0.5 * ((xs - self.center[0]) / (0.8 * self.jaw_half_width)) ** 2)
        s = _smoothstep(depth_below_lip / (2.5 * self.lip_thickness))
        return lens * (1 - s) + jaw * s

    def _displacement_field(self, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
        """Downward displacement per unit of jaw drop, at every ROI pixel."""
        depth = ys - self._lip_line
        below = (depth >= 0).astype(np.float64)
        neck_fade = 1 - _smoothstep((ys - self.chin_y) / (0.3 * self.face_height))
        return below * self._horizontal(xs, np.maximum(depth, 0)) * neck_fade

    def render(self, opening_px: float, pose: HeadPose2D | None = None) -> np.ndarray:
        """The face with the jaw dropped by ``opening_px`` pixels (0 = the photo's own mouth)."""
        out = self.image.copy()
        if opening_px > 0.05:
            x0, y0, x1, y1 = self.roi
            map_y = (self._ys - opening_px * self._field).astype(np.float32)
            map_x = self._xs.astype(np.float32)
            warped = cv2.remap(self.image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            # Cavity between the photo's lower inner lip and the dropped one, darker towards the back.
            lower = self.lower.copy()
            lower[:, 1] += opening_px * self._horizontal(lower[:, 0], np.zeros(len(lower)))
            polygon = np.concatenate([self.lower, lower[::-1]]) - [x0, y0]
            mask = np.zeros(warped.shape[:2], np.uint8)
            cv2.fillPoly(mask, [np.round(polygon * 16).astype(np.int32)], 255, cv2.LINE_AA, shift=4)
            alpha = (mask.astype(np.float64) / 255.0)[..., None]
            depth = np.clip((self._ys - self._lip_line) / max(opening_px, 1.0), 0, 1)[..., None]
            colour = CAVITY_RGB * (1.25 - 0.5 * np.sin(np.pi * depth))
            region = alpha * colour + (1 - alpha) * warped.astype(np.float64)
            out[y0:y1, x0:x1] = np.clip(np.round(region), 0, 255).astype(np.uint8)
        if pose is not None and (pose.angle_deg or pose.tx or pose.ty):
            m = cv2.getRotationMatrix2D(
                (float(self.face_center[0]), float(self.face_center[1])), pose.angle_deg, 1.0
            )
            m[:, 2] += (pose.tx, pose.ty)
            out = cv2.warpAffine(
                out, m, (out.shape[1], out.shape[0]), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
            )
        return out
