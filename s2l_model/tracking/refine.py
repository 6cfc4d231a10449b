"""Pass 2 of tracking: gaps, camera, head poses and filtered landmarks, a block of frames at a time.

Each frame's landmarks are split into a rigid part (the speaker's head model, posed by PnP on the stable
landmarks and smoothed over time) and a non-rigid residual (expression, speech, jitter). The residual is
filtered with a zero-lag bilateral filter: lightly for the mouth, eyes and jaw, which move fast, and
strongly for the rest of the face, which moves with the skull. Filtered landmarks = posed model +
filtered residual.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.headpose import CameraFit, HeadModel, fit_camera, project_model
from s2l_model.geometry.pose import Pose
from s2l_model.geometry.topology import (
    LOWER_LIP_INNER_MID,
    MOUTH_LEFT,
    MOUTH_RIGHT,
    N_LANDMARKS,
    UPPER_LIP_INNER_MID,
    landmark_set,
    stable_indices,
)
from s2l_model.progress import CountFn as ProgressFn
from s2l_model.tracking.poses import fit_pose_track, halo_frames, pose_sigma_frames
from s2l_model.tracking.smooth import (
    MAX_GAP_SECONDS,
    GapPlan,
    bilateral_filter,
    local_quadratic_filter,
    noise_scale,
    plan_gaps,
)
from s2l_model.tracking.store import NpyAppender, read_rows
from s2l_model.tracking.track import RawTrack

CAMERA_SAMPLES = 80  # frames used to choose the focal length and build the head model
NOISE_SAMPLES = 200  # triples of consecutive frames used to measure jitter
FAST_SIGMA_SECONDS = 0.04  # mouth, eyes, jaw residual: bilateral, light
SLOW_SIGMA_SECONDS = 0.3  # residual of the rest of the face (expression only): local quadratic
EDGE_JITTERS = 3.0  # bilateral value scale, in measured jitter standard deviations


@dataclass
class Tracks:
    """Per-frame tracking results for one video (arrays are small; landmarks stay on disk)."""

    fps_num: int
    fps_den: int
    width: int
    height: int
    landmarks_path: Path  # (N, 478, 3) float32, filtered; NaN on excluded frames
    camera: PinholeCamera
    model: HeadModel
    rotations: np.ndarray  # (N, 3, 3) head model → camera; NaN on excluded frames
    translations: np.ndarray  # (N, 3)
    usable: np.ndarray  # (N,) bool
    plan: GapPlan
    sharpness: np.ndarray  # (N,)
    mouth_open: np.ndarray  # (N,) inner-lip gap / mouth width
    focal_errors: dict[float, float]

    @property
    def n_frames(self) -> int:
        return len(self.usable)

    def pose(self, frame: int) -> Pose:
        return Pose(self.rotations[frame].astype(np.float64), self.translations[frame].astype(np.float64))


def _sample_rows(path: Path, frames: np.ndarray) -> np.ndarray:
    return np.stack([read_rows(path, int(f), int(f) + 1)[0] for f in frames])


def _fast_points(stable: np.ndarray) -> np.ndarray:
    """Landmarks filtered lightly: lips, eyes, irises and everything below the nose that is not stable."""
    fast = set(landmark_set("lips")) | set(landmark_set("left_eye")) | set(landmark_set("right_eye"))
    fast |= set(range(468, N_LANDMARKS))
    mask = np.zeros(N_LANDMARKS, bool)
    mask[sorted(fast)] = True
    below = np.ones(N_LANDMARKS, bool)
    below[stable] = False
    below[sorted(set(landmark_set("left_eyebrow")) | set(landmark_set("right_eyebrow")))] = False
    return mask | below


def mouth_opening(landmarks: np.ndarray) -> np.ndarray:
    """Inner-lip gap over mouth width for (..., 478, >=2) landmarks (0 = closed)."""
    gap = np.linalg.norm(
        landmarks[..., LOWER_LIP_INNER_MID, :2] - landmarks[..., UPPER_LIP_INNER_MID, :2], axis=-1
    )
    width = np.linalg.norm(landmarks[..., MOUTH_RIGHT, :2] - landmarks[..., MOUTH_LEFT, :2], axis=-1)
    return gap / np.maximum(width, 1e-6)


def refine_tracks(raw: RawTrack, out_dir: str | Path, *, on_progress: ProgressFn | None = None) -> Tracks:
    """Gaps, camera, poses, filtered landmarks (``out_dir/landmarks.npy``), mouth opening per frame."""
    out = Path(out_dir)
    fps = float(raw.fps)
    n = raw.n_frames
    plan = plan_gaps(raw.found, max(1, round(MAX_GAP_SECONDS * fps)))
    seen = np.flatnonzero(raw.found)
    samples = _sample_rows(
        raw.landmarks_path, seen[np.linspace(0, len(seen) - 1, min(CAMERA_SAMPLES, len(seen))).astype(int)]
    )
    stable = stable_indices(samples[len(samples) // 2])
    fit: CameraFit = fit_camera(samples, stable, raw.width, raw.height)
    camera, model = fit.camera, fit.model

    triples_at = [
        f
        for f in seen[np.linspace(0, len(seen) - 1, min(NOISE_SAMPLES, len(seen))).astype(int)]
        if 0 < f < n - 1 and raw.found[f - 1] and raw.found[f + 1]
    ]
    if triples_at:
        triples = np.stack([read_rows(raw.landmarks_path, f - 1, f + 2) for f in triples_at])[..., :3]
        jitter = noise_scale(triples)  # (478, 3)
    else:
        jitter = np.full((N_LANDMARKS, 3), 0.5)
    sigma_value = EDGE_JITTERS * np.maximum(jitter, 0.05)
    fast = _fast_points(stable)
    sigma_pose = pose_sigma_frames(fps)
    sigma_fast, sigma_slow = (max(0.5, s * fps) for s in (FAST_SIGMA_SECONDS, SLOW_SIGMA_SECONDS))
    halo = halo_frames(max(sigma_slow, sigma_pose), fps)  # the residual filters reach further than poses'

    rotations = np.full((n, 3, 3), np.nan, np.float32)
    translations = np.full((n, 3), np.nan, np.float32)
    opening = np.full(n, np.nan)
    with NpyAppender(out / "landmarks.npy", (N_LANDMARKS, 3), np.float32) as store:
        for pose_block in fit_pose_track(raw, plan, model, camera, halo=halo):
            block, valid, params = pose_block.landmarks, pose_block.valid, pose_block.params
            rigid = project_model(
                model, pose_block.rotations(), np.nan_to_num(params[:, 3:], nan=1.0), camera
            )
            residual = block[..., :2] - rigid
            residual_z = block[..., 2:3]
            light = bilateral_filter(residual, valid, sigma_fast, sigma_value[:, :2])
            strong = local_quadratic_filter(residual, valid, sigma_slow)
            xy = rigid + np.where(fast[None, :, None], light, strong)
            z = bilateral_filter(residual_z, valid, sigma_fast, sigma_value[:, 2:3])
            filtered = np.concatenate([xy, z], axis=-1)
            filtered[~valid] = np.nan
            own = filtered[pose_block.own]
            start, stop = pose_block.start, pose_block.stop
            store.append(own.astype(np.float32))
            rotations[start:stop], translations[start:stop] = pose_block.own_poses()
            opening[start:stop] = mouth_opening(own)
            if on_progress is not None:
                on_progress(stop, n)
    return Tracks(
        fps_num=raw.fps.numerator,
        fps_den=raw.fps.denominator,
        width=raw.width,
        height=raw.height,
        landmarks_path=out / "landmarks.npy",
        camera=camera,
        model=model,
        rotations=rotations,
        translations=translations,
        usable=plan.usable,
        plan=plan,
        sharpness=raw.sharpness,
        mouth_open=opening,
        focal_errors=fit.errors,
    )
