"""The mouth code: a low-dimensional description of the mouth's shape, free of head pose.

Per frame, the lip and jaw landmarks are taken into *head space*: lifted from the image with the camera
(``headpose.lift_landmarks``) and mapped onto the head model by the similarity (rotation, scale, shift)
that best fits the frame's *stable* landmarks (those that move with the skull only) to the model's, so the
head's own motion and its distance are gone and only the mouth's articulation is left. A similarity and not
the frame's head pose: lifting puts every face at the same depth, so a pose fitted against the model (whose
translation does carry the distance) would leave a punch-in or a lean towards the camera in the points as
a huge fake "mouth" component (it did: 8× the spread of the next one on the dev clip, which cuts between
two framings). A PCA of those points over the training frames gives a
few components (the jaw's drop, the lips' spread and pucker, the upper lip's lift …); a frame's code is its
coordinates along them, divided by each component's standard deviation, so every component of a code is
in "standard deviations of this speaker's own motion" (unit variance over the training frames).

The code is what the speech → mouth stage predicts and what the lip renderer is conditioned on. Decoding a
code gives points back (``MouthBasis.decode``), so the opening of a predicted mouth can be measured in the
same units as a tracked one (``code_opening``).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.headpose import lift_landmarks
from s2l_model.geometry.topology import (
    LOWER_LIP_INNER_MID,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    UPPER_LIP_INNER_MID,
    landmark_set,
)

#: Lower face-oval points (the jaw line from cheek to cheek under the mouth) that the code also describes:
#: the jaw carries most of the opening, and the renderer's box reaches below the lips to the chin.
JAW_POINTS = (58, 172, 136, 150, 149, 176, 148, 152, 377, 400, 378, 379, 365, 397, 288)


@functools.cache
def mouth_points() -> tuple[int, ...]:
    """Indices of the landmarks a mouth code describes: mediapipe's 40 lip points and the lower jaw."""
    return tuple(sorted(set(landmark_set("lips")) | set(JAW_POINTS)))


def similarity_to(source: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The least-squares similarity (Umeyama) taking each of N (N, S, 3) ``source`` point sets onto the one
    (S, 3) ``target``: per set a scale (N,), a rotation (N, 3, 3) and a shift (N, 3), with
    target ≈ scale · R @ source + shift."""
    mu_s, mu_t = source.mean(axis=1), target.mean(axis=0)
    a, b = source - mu_s[:, None], target - mu_t
    cov = np.einsum("si,nsj->nij", b, a) / source.shape[1]  # (N, 3, 3) target × source
    u, sig, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    fix = np.ones((len(source), 3))
    fix[:, 2] = d
    rotation = u @ (fix[:, :, None] * vt)
    var = (a * a).sum(axis=(1, 2)) / source.shape[1]
    scale = (sig * fix).sum(axis=1) / np.maximum(var, 1e-12)
    shift = mu_t - scale[:, None] * np.einsum("nij,nj->ni", rotation, mu_s)
    return scale, rotation, shift


def head_space_points(
    landmarks: np.ndarray, camera: PinholeCamera, model: np.ndarray, stable: np.ndarray
) -> np.ndarray:
    """(N, 478, 3) tracked landmarks of N frames → (N, P, 3) float32 ``mouth_points`` in the space of the
    (478, 3) head ``model``, each frame aligned to it on the ``stable`` landmark indices (NaN where the
    frame has no landmarks)."""
    index = np.array(mouth_points())
    stable = np.asarray(stable, dtype=np.int64)
    lifted = lift_landmarks(landmarks.astype(np.float64), camera)  # (N, 478, 3) camera space
    out = np.full((len(landmarks), len(index), 3), np.nan, np.float32)
    ok = np.isfinite(lifted).all(axis=(1, 2))
    if ok.any():
        scale, rotation, shift = similarity_to(lifted[ok][:, stable], model[stable].astype(np.float64))
        moved = scale[:, None, None] * np.einsum("nij,npj->npi", rotation, lifted[ok][:, index])
        out[ok] = moved + shift[:, None]
    return out


@dataclass(frozen=True)
class MouthBasis:
    """A speaker's mouth-shape basis: ``mean`` (P, 3) head-space points, ``components`` (K, 3P) orthonormal
    rows, ``scale`` (K,) each component's standard deviation over the training frames."""

    mean: np.ndarray
    components: np.ndarray
    scale: np.ndarray

    @property
    def size(self) -> int:
        return len(self.scale)

    def encode(self, points: np.ndarray) -> np.ndarray:
        """(N, P, 3) head-space points → (N, K) float32 codes (unit variance over the training frames)."""
        flat = (points - self.mean).reshape(len(points), -1)
        return (flat @ self.components.T / self.scale).astype(np.float32)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """(N, K) codes → (N, P, 3) head-space points (the mean plus the components' share)."""
        flat = (codes * self.scale) @ self.components
        return (self.mean + flat.reshape(len(codes), *self.mean.shape)).astype(np.float32)


def fit_mouth_basis(points: np.ndarray, components: int) -> MouthBasis:
    """PCA of (N, P, 3) head-space mouth points (frames without a pose, NaN, are skipped) → the first
    ``components`` directions. A direction's sign is fixed so that a positive code opens the mouth more
    (or, for components that do not open it, moves the lower lip's midpoint down), which keeps codes
    comparable between builds of the same speaker."""
    finite = points[np.isfinite(points).all(axis=(1, 2))].astype(np.float64)
    if len(finite) < components + 1:
        raise ValueError(f"a mouth basis of {components} components needs more than {len(finite)} frames")
    mean = finite.mean(axis=0)
    flat = (finite - mean).reshape(len(finite), -1)
    _, singular, vt = np.linalg.svd(flat, full_matrices=False)
    k = min(components, len(singular))
    rows = vt[:k]
    scale = np.maximum(singular[:k] / np.sqrt(len(finite)), 1e-6)
    opening = [_opening_gradient(mean, row) for row in rows]
    rows = rows * np.where(np.array(opening) < 0, -1.0, 1.0)[:, None]
    return MouthBasis(mean.astype(np.float32), rows.astype(np.float32), scale.astype(np.float32))


def _index(landmark: int) -> int:
    return mouth_points().index(landmark)


def points_opening(points: np.ndarray) -> np.ndarray:
    """(N, P, 3) mouth points → (N,) inner-lip gap over mouth width (the tracker's mouth opening measure,
    in head space)."""
    gap = np.linalg.norm(
        points[:, _index(LOWER_LIP_INNER_MID)] - points[:, _index(UPPER_LIP_INNER_MID)], axis=-1
    )
    width = np.linalg.norm(points[:, _index(MOUTH_RIGHT)] - points[:, _index(MOUTH_LEFT)], axis=-1)
    return gap / np.maximum(width, 1e-6)


def code_opening(basis: MouthBasis, codes: np.ndarray) -> np.ndarray:
    """(N, K) codes → (N,) mouth opening of the decoded shapes."""
    return points_opening(basis.decode(codes))


def _opening_gradient(mean: np.ndarray, row: np.ndarray) -> float:
    """How a small step along ``row`` changes the opening (falling back to the lower lip's drop)."""
    step = 1e-3 * np.abs(mean).max()
    moved = mean + step * row.reshape(mean.shape)
    change = float(points_opening(moved[None])[0] - points_opening(mean[None])[0])
    if abs(change) > 1e-9:
        return change
    lower = _index(LOWER_LIP_INNER_MID)
    return float(row.reshape(mean.shape)[lower, 1])
