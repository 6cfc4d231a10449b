"""Head pose from face-mesh landmarks: a per-speaker rigid head model and a pinhole camera fit (PnP).

The head model is the speaker's median face shape in mediapipe's 3D landmark space (x, y in pixels; z,
mediapipe's relative depth, in the same pixel units), aligned over many frames on the stable landmarks.
A frame's pose (R, t) maps model points into that frame's camera space, found by PnP on the stable
landmarks only (no lips or jaw), so speech does not tilt the head.

Camera: a pinhole with the principal point at the frame centre and a focal length chosen per video by
the reprojection error of the stable landmarks over a sample of frames (``estimate_focal``). A very long
focal length is the weak-perspective limit, so the same measurement decides between the two models.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.pose import Pose, umeyama

#: Focal lengths tried, as multiples of the frame's larger side. 30x is practically weak perspective.
FOCAL_FACTORS = (0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class HeadModel:
    points: np.ndarray  # (478, 3) model-space landmarks, centred on the stable points
    stable: np.ndarray  # indices of the landmarks that move only with the skull


def lift_landmarks(landmarks: np.ndarray, camera: PinholeCamera) -> np.ndarray:
    """(..., 478, 3) mediapipe landmarks → camera-space points under a pinhole camera.

    mediapipe gives image positions (x, y) and a depth z relative to the face, in the pixel units of
    the face's own distance. In units of "one pixel at the face's distance" the face sits at depth f, so a
    landmark lies at Z = f + z and X = (x - cx) Z / f: the perspective of the picture is undone.
    """
    z = camera.focal + landmarks[..., 2]
    return np.stack(
        [
            (landmarks[..., 0] - camera.cx) * z / camera.focal,
            (landmarks[..., 1] - camera.cy) * z / camera.focal,
            z,
        ],
        axis=-1,
    )


def build_head_model(samples: np.ndarray, stable: np.ndarray, camera: PinholeCamera) -> HeadModel:
    """Median 3D head shape of (K, 478, 3) landmark samples, each lifted with ``camera`` and aligned to
    the first on ``stable``.

    Alignment is a similarity (scale included) so distance changes do not blur the shape; the result
    is in the pixel scale of the first sample.
    """
    lifted = lift_landmarks(samples.astype(np.float64), camera)
    reference = lifted[0]
    aligned = []
    for shape in lifted:
        pose, scale = umeyama(shape[stable], reference[stable], with_scale=True)
        aligned.append(scale * shape @ pose.rotation.T + pose.translation)
    median = np.median(np.stack(aligned), axis=0)
    return HeadModel(points=median - median[stable].mean(axis=0), stable=np.asarray(stable))


def camera_matrix(camera: PinholeCamera) -> np.ndarray:
    return np.array([[camera.focal, 0, camera.cx], [0, camera.focal, camera.cy], [0, 0, 1]], dtype=np.float64)


def _initial_pose(model: HeadModel, landmarks: np.ndarray, camera: PinholeCamera) -> Pose:
    """PnP start: rotation and scale from a 3D similarity to the lifted landmarks, depth from the scale."""
    idx = model.stable
    lifted = lift_landmarks(landmarks[idx].astype(np.float64), camera)
    pose, scale = umeyama(model.points[idx], lifted, with_scale=True)
    depth = camera.focal / max(scale, 1e-6)
    centre = landmarks[idx, :2].mean(axis=0)
    tx = (centre[0] - camera.cx) * depth / camera.focal
    ty = (centre[1] - camera.cy) * depth / camera.focal
    return Pose(pose.rotation, np.array([tx, ty, depth]))


def fit_pose(
    model: HeadModel, landmarks: np.ndarray, camera: PinholeCamera, guess: Pose | None = None
) -> Pose:
    """Pose of one frame from its (478, >=2) landmarks: PnP on the stable points (Levenberg-Marquardt)."""
    start = guess or _initial_pose(model, landmarks, camera)
    rvec, _ = cv2.Rodrigues(start.rotation)
    ok, rvec, tvec = cv2.solvePnP(
        model.points[model.stable],
        landmarks[model.stable, :2].astype(np.float64),
        camera_matrix(camera),
        None,
        rvec=rvec.copy(),
        tvec=start.translation.reshape(3, 1).astype(np.float64).copy(),
        useExtrinsicGuess=True,
        flags=cv2.SOLVEPNP_ITERATIVE,
    )
    if not ok:
        return start
    return Pose(cv2.Rodrigues(rvec)[0], tvec.reshape(3))


def project_model(
    model: HeadModel, rotations: np.ndarray, translations: np.ndarray, camera: PinholeCamera
) -> np.ndarray:
    """(N, 3, 3) rotations and (N, 3) translations → (N, 478, 2) projected model landmarks."""
    cam = np.einsum("nij,pj->npi", rotations, model.points) + translations[:, None, :]
    z = cam[..., 2:3]
    return np.concatenate(
        [camera.focal * cam[..., 0:1] / z + camera.cx, camera.focal * cam[..., 1:2] / z + camera.cy], axis=-1
    )


def reprojection_error(model: HeadModel, landmarks: np.ndarray, pose: Pose, camera: PinholeCamera) -> float:
    """Median pixel distance between the stable landmarks and the posed model's projection."""
    projected = project_model(model, pose.rotation[None], pose.translation[None], camera)[0]
    diff = projected[model.stable] - landmarks[model.stable, :2]
    return float(np.median(np.linalg.norm(diff, axis=1)))


@dataclass(frozen=True)
class CameraFit:
    camera: PinholeCamera
    model: HeadModel
    factor: float  # focal / larger frame side
    errors: dict[float, float]  # factor → median reprojection error (px) over the sample frames


def fit_camera(samples: np.ndarray, stable: np.ndarray, width: int, height: int) -> CameraFit:
    """Choose the focal length (and its head model) whose PnP fits explain the stable landmarks best.

    For each candidate the samples are lifted with that camera, a head model is built, and every sample
    is re-fitted; the median reprojection error decides. Ties (to 1/1000 px) go to the longer lens.
    """
    errors: dict[float, float] = {}
    fits: dict[float, tuple[PinholeCamera, HeadModel]] = {}
    for factor in FOCAL_FACTORS:
        camera = PinholeCamera.centred(width, height, factor * max(width, height))
        model = build_head_model(samples, stable, camera)
        per_frame = [reprojection_error(model, s, fit_pose(model, s, camera), camera) for s in samples]
        errors[factor] = float(np.median(per_frame))
        fits[factor] = (camera, model)
    best = min(errors, key=lambda k: (round(errors[k], 3), -k))
    return CameraFit(camera=fits[best][0], model=fits[best][1], factor=best, errors=errors)
