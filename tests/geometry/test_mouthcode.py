"""The mouth code (``geometry.mouthcode``): head-space points, the PCA basis and its round trip, checked
on shapes built by hand."""

from __future__ import annotations

import numpy as np

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.headpose import lift_landmarks
from s2l_model.geometry.mouthcode import (
    code_opening,
    fit_mouth_basis,
    head_space_points,
    mouth_points,
    points_opening,
)
from s2l_model.geometry.topology import LOWER_LIP_INNER_MID, N_LANDMARKS

CAMERA = PinholeCamera(focal=800.0, cx=320.0, cy=240.0)


def _rotation(yaw: float, roll: float) -> np.ndarray:
    cy, sy, cr, sr = np.cos(yaw), np.sin(yaw), np.cos(roll), np.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return rz @ ry


def _project(points: np.ndarray) -> np.ndarray:
    """Camera-space points → mediapipe-style landmarks (x, y in px, z = depth − focal): the inverse of
    ``lift_landmarks``."""
    z = points[..., 2]
    return np.stack(
        [
            points[..., 0] * CAMERA.focal / z + CAMERA.cx,
            points[..., 1] * CAMERA.focal / z + CAMERA.cy,
            z - CAMERA.focal,
        ],
        axis=-1,
    )


def test_head_space_points_undo_pose_and_distance_and_keep_the_articulation() -> None:
    rng = np.random.default_rng(0)
    head = rng.normal(scale=40.0, size=(N_LANDMARKS, 3))  # a head model's points
    stable = np.arange(300)  # (any points outside the mouth set will do for the test)
    stable = np.setdiff1d(stable, mouth_points())
    lower = mouth_points().index(LOWER_LIP_INNER_MID)
    spoken = head.copy()
    spoken[LOWER_LIP_INNER_MID, 1] += 5.0  # the lower lip drops 5 model units in the second frame
    # frame 0: at rest, facing the camera; frame 1: turned, rolled, nearer and bigger, speaking
    frames = [(head, 1.0, np.eye(3), np.array([0.0, 0.0, 800.0])),
              (spoken, 1.3, _rotation(0.3, -0.2), np.array([25.0, -10.0, 650.0]))]  # fmt: skip
    landmarks = np.stack([_project(s * pts @ r.T + t) for pts, s, r, t in frames])
    assert np.allclose(lift_landmarks(landmarks, CAMERA)[0], head + np.array([0, 0, 800.0]), atol=1e-6)
    points = head_space_points(landmarks, CAMERA, head.astype(np.float32), stable)
    expected = head[list(mouth_points())]
    assert points.shape == (2, len(mouth_points()), 3)
    assert np.abs(points[0] - expected).max() < 1e-3  # pose and distance gone
    moved = points[1] - expected
    assert abs(moved[lower, 1] - 5.0) < 1e-3  # the articulation stays, in model units
    moved[lower] = 0
    assert np.abs(moved).max() < 1e-3


def _mouth_frames(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, P, 3) mouth points moved along two known modes: the lower lip and jaw drop (mode 0, the larger),
    and the corners spread (mode 1); plus the (n, 2) true amounts."""
    rng = np.random.default_rng(seed)
    p = len(mouth_points())
    mean = rng.normal(scale=20.0, size=(p, 3))
    drop = np.zeros((p, 3))
    drop[:, 1] = np.linspace(0, 1, p)  # some points move down
    drop[mouth_points().index(LOWER_LIP_INNER_MID), 1] = 3.0  # the lower lip most
    spread = np.zeros((p, 3))
    spread[:, 0] = rng.normal(size=p)
    spread -= (spread * drop).sum() / (drop * drop).sum() * drop  # orthogonal to the drop
    amounts = np.stack([rng.normal(scale=4.0, size=n), rng.normal(scale=1.0, size=n)], axis=1)
    points = mean + amounts[:, :1, None] * drop + amounts[:, 1:, None] * spread
    return points.astype(np.float32), amounts


def test_the_mouth_code_round_trips_and_has_unit_variance() -> None:
    points, _ = _mouth_frames(400)
    basis = fit_mouth_basis(points, 2)
    codes = basis.encode(points)
    assert codes.shape == (400, 2)
    assert np.allclose(codes.std(axis=0), 1.0, atol=1e-3) and np.allclose(codes.mean(axis=0), 0.0, atol=1e-3)
    assert np.abs(basis.decode(codes) - points).max() < 1e-3  # two modes, two components: exact
    # fewer components than modes: the decoded shape is the nearest one in the basis (a projection)
    one = fit_mouth_basis(points, 1)
    residual = one.decode(one.encode(points)) - points
    assert np.abs(residual).max() > 0.1
    assert np.abs(one.encode(one.decode(one.encode(points))) - one.encode(points)).max() < 1e-4


def test_a_positive_first_code_opens_the_mouth_and_frames_without_a_pose_are_skipped() -> None:
    points, amounts = _mouth_frames(300, seed=3)
    points[:5] = np.nan  # frames without a pose
    basis = fit_mouth_basis(points, 2)
    codes = basis.encode(points[5:])
    assert np.corrcoef(codes[:, 0], amounts[5:, 0])[0, 1] > 0.99  # the larger mode first, sign fixed
    rest = np.zeros((1, 2), np.float32)
    opened = np.array([[2.0, 0.0]], np.float32)
    assert code_opening(basis, opened)[0] > code_opening(basis, rest)[0]
    assert np.isclose(code_opening(basis, rest)[0], points_opening(basis.mean[None])[0])
