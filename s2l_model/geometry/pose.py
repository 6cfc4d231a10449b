"""Rigid head poses and their estimation from landmarks.

A pose maps head (object) coordinates to camera coordinates: X_cam = R @ X_head + t. The relative pose
between the canonical and an observed view (paper Eq. 3) maps canonical camera space to observed camera
space: T_rel = T_obs ∘ T_can⁻¹.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class Pose:
    rotation: np.ndarray  # (3, 3), orthonormal, det +1
    translation: np.ndarray  # (3,)

    @classmethod
    def identity(cls) -> Pose:
        return cls(np.eye(3), np.zeros(3))

    def apply(self, points: np.ndarray) -> np.ndarray:
        return points @ self.rotation.T + self.translation

    def inverse(self) -> Pose:
        r_inv = self.rotation.T
        return Pose(r_inv, -r_inv @ self.translation)

    def compose(self, first: Pose) -> Pose:
        """self ∘ first: apply ``first``, then ``self``."""
        return Pose(self.rotation @ first.rotation, self.rotation @ first.translation + self.translation)

    def as_torch(self, dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.as_tensor(self.rotation, dtype=dtype), torch.as_tensor(self.translation, dtype=dtype)


def relative_pose(canonical: Pose, observed: Pose) -> Pose:
    """Canonical camera space → observed camera space (paper Eq. 3)."""
    return observed.compose(canonical.inverse())


def relative_poses(
    canonical: Pose, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``relative_pose(canonical, observed)`` for N observed poses at once, in float64.

    ``rotations`` (N, 3, 3) and ``translations`` (N, 3): head → observed camera. Returns (N, 3, 3) rotations
    and (N, 3) translations: canonical camera → observed camera. A NaN row (a frame without a pose) stays NaN.
    """
    inverse = canonical.inverse()
    observed_r = np.asarray(rotations, np.float64)
    observed_t = np.asarray(translations, np.float64)
    return observed_r @ inverse.rotation, observed_r @ inverse.translation + observed_t


def rotation_from_euler(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix from angles in radians about x, then y, then z (R = Rz @ Ry @ Rx)."""
    cx, sx, cy, sy, cz, sz = np.cos(rx), np.sin(rx), np.cos(ry), np.sin(ry), np.cos(rz), np.sin(rz)
    rot_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    rot_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rot_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return rot_z @ rot_y @ rot_x


def umeyama(source: np.ndarray, target: np.ndarray, *, with_scale: bool = False) -> tuple[Pose, float]:
    """Least-squares similarity (or rigid) transform with target ≈ s · R · source + t (Umeyama 1991).

    Returns the pose (R, t) and the scale s (1.0 when ``with_scale`` is False).
    """
    if source.shape != target.shape or source.ndim != 2 or source.shape[1] != 3 or len(source) < 3:
        raise ValueError("umeyama needs two (N>=3, 3) point sets of the same shape")
    mu_s, mu_t = source.mean(axis=0), target.mean(axis=0)
    src, dst = source - mu_s, target - mu_t
    cov = dst.T @ src / len(source)
    u, sing, vt = np.linalg.svd(cov)
    fix = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:  # a reflection is not a head pose
        fix[2, 2] = -1
    rotation = u @ fix @ vt
    scale = float(np.trace(np.diag(sing) @ fix) / src.var(axis=0).sum()) if with_scale else 1.0
    translation = mu_t - scale * rotation @ mu_s
    return Pose(rotation, translation), scale
