"""Choosing the canonical frame: frontal, mouth closed, sharp (paper Sec. 4.1; the released code simply
takes frame 0).

Each usable, actually-seen frame gets a cost; the lowest wins. One unit of cost is "noticeably worse":
    cost = frontal angle / 5 deg + mouth opening / 0.05 + 2 * max(0, 1 - sharpness / median sharpness)
The frontal angle combines the angle between the face's normal and the direction to the camera with the
roll of the eye line. The mouth opening is the inner-lip gap over the mouth width. Sharpness is the
variance of the Laplacian of the face at a fixed face width.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from s2l_model.geometry.headpose import HeadModel
from s2l_model.geometry.topology import CHIN, FOREHEAD

FRONTAL_UNIT_DEG = 5.0
OPENING_UNIT = 0.05
SHARPNESS_WEIGHT = 2.0
RIGHT_EYE_OUTER, LEFT_EYE_OUTER = 33, 263


def face_normal(model: HeadModel) -> np.ndarray:
    """Unit normal of the face in model space, pointing out of the face (towards a frontal camera)."""
    across = model.points[LEFT_EYE_OUTER] - model.points[RIGHT_EYE_OUTER]
    down = model.points[CHIN] - model.points[FOREHEAD]
    normal = -np.cross(across, down)
    return normal / np.linalg.norm(normal)


def frontal_angles(
    model: HeadModel, rotations: np.ndarray, translations: np.ndarray, landmarks_2d: np.ndarray
) -> np.ndarray:
    """Degrees away from frontal per frame: out-of-plane angle to the camera, combined with eye-line roll."""
    normal = np.einsum("nij,j->ni", rotations, face_normal(model))
    to_camera = -translations / np.linalg.norm(translations, axis=1, keepdims=True)
    out_of_plane = np.degrees(np.arccos(np.clip(np.sum(normal * to_camera, axis=1), -1, 1)))
    eye = landmarks_2d[:, LEFT_EYE_OUTER, :2] - landmarks_2d[:, RIGHT_EYE_OUTER, :2]
    roll = np.degrees(np.arctan2(eye[:, 1], eye[:, 0]))
    return np.hypot(out_of_plane, roll)


@dataclass(frozen=True)
class CanonicalChoice:
    frame: int
    cost: float
    frontal_deg: float
    mouth_open: float
    relative_sharpness: float
    chosen_by: str  # "score" or "user"


def canonical_costs(frontal_deg: np.ndarray, mouth_open: np.ndarray, sharpness: np.ndarray) -> np.ndarray:
    median = np.nanmedian(sharpness)
    relative = sharpness / median if median > 0 else np.ones_like(sharpness)
    return (
        frontal_deg / FRONTAL_UNIT_DEG
        + np.maximum(mouth_open, 0) / OPENING_UNIT
        + SHARPNESS_WEIGHT * np.maximum(0.0, 1.0 - relative)
    )


def choose_canonical(
    frontal_deg: np.ndarray,
    mouth_open: np.ndarray,
    sharpness: np.ndarray,
    candidates: np.ndarray,
    override: int | None = None,
) -> CanonicalChoice:
    """The lowest-cost frame among ``candidates`` (bool mask), or the user's ``override``."""
    cost = canonical_costs(frontal_deg, mouth_open, sharpness)
    cost = np.where(candidates & np.isfinite(cost), cost, np.inf)
    frame = int(np.argmin(cost)) if override is None else override
    median = np.nanmedian(sharpness)
    return CanonicalChoice(
        frame=frame,
        cost=float(cost[frame]),
        frontal_deg=float(frontal_deg[frame]),
        mouth_open=float(mouth_open[frame]),
        relative_sharpness=float(sharpness[frame] / median) if median > 0 else 1.0,
        chosen_by="score" if override is None else "user",
    )
