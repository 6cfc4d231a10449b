"""Head-pose tracks: a PnP fit per frame against a head model, short gaps filled, zero-lag smoothing.

One path for every pose track: ``refine_tracks`` poses a video against the head model fitted to it, and
``track_footage`` poses other footage against a profile's head model. Long videos are posed a block of
``BLOCK_FRAMES`` at a time with a halo of neighbours either side, so memory stays flat in video length and
the filters at a block's edges see the same neighbours as in one pass over the whole video.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.headpose import HeadModel, fit_pose
from s2l_model.geometry.pose import Pose
from s2l_model.tracking.smooth import MAX_GAP_SECONDS, GapPlan, fill_gaps, local_quadratic_filter
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import RawTrack

BLOCK_FRAMES = 512
POSE_SIGMA_SECONDS = 0.1  # head pose: local quadratic (keeps <= 1 Hz head motion, removes speech-rate wobble)


def pose_sigma_frames(fps: float) -> float:
    """The pose filter's width in frames (at least half a frame)."""
    return max(0.5, POSE_SIGMA_SECONDS * fps)


def halo_frames(sigma_frames: float, fps: float) -> int:
    """Frames either side of a block that its results depend on: the reach of a local quadratic filter of
    ``sigma_frames`` (3 sigma) plus the longest interpolated gap (whose anchors must be in the block)."""
    return int(np.ceil(3.0 * sigma_frames)) + round(MAX_GAP_SECONDS * fps) + 2


@dataclass(frozen=True)
class PoseBlock:
    """One block of a pose track: frames ``lo`` … ``lo + n - 1`` of the video, of which ``start`` …
    ``stop - 1`` are the block's own and the rest is halo (there for the filters, not for the caller)."""

    lo: int
    start: int
    stop: int
    landmarks: np.ndarray  # (n, 478, 3) float64, short gaps filled by linear interpolation
    valid: np.ndarray  # (n,) bool: usable frames (seen, or in an interpolated gap) with landmarks here
    #: (n, 6) smoothed rotation vectors and translations (head model → camera), NaN where not valid
    params: np.ndarray

    @property
    def own(self) -> slice:
        """The block's own frames, as a slice of its arrays."""
        return slice(self.start - self.lo, self.stop - self.lo)

    def rotations(self) -> np.ndarray:
        """(n, 3, 3) rotation matrices of ``params``; the identity where not valid (so the head model can be
        projected on every frame; such frames are left out of every filter)."""
        return Rotation.from_rotvec(np.nan_to_num(self.params[:, :3])).as_matrix()

    def own_poses(self) -> tuple[np.ndarray, np.ndarray]:
        """The own frames' (k, 3, 3) rotations and (k, 3) translations, float64, NaN where not valid."""
        own = self.own
        valid = self.valid[own]
        return (
            np.where(valid[:, None, None], self.rotations()[own], np.nan),
            np.where(valid[:, None], self.params[own, 3:], np.nan),
        )


def _fit_block_poses(
    model: HeadModel, block: np.ndarray, valid: np.ndarray, camera: PinholeCamera
) -> np.ndarray:
    """(n, 6) rotation vectors and translations, NaN where invalid; each fit starts from the previous."""
    out = np.full((len(block), 6), np.nan)
    guess: Pose | None = None
    for i in np.flatnonzero(valid):
        pose = fit_pose(model, block[i], camera, guess)
        guess = pose
        out[i, :3] = Rotation.from_matrix(pose.rotation).as_rotvec()
        out[i, 3:] = pose.translation
    return out


def fit_pose_track(
    raw: RawTrack,
    plan: GapPlan,
    model: HeadModel,
    camera: PinholeCamera,
    *,
    halo: int,
    frames: range | None = None,
) -> Iterator[PoseBlock]:
    """The smoothed head poses of ``frames`` (default: all) of ``raw``, a block of ``BLOCK_FRAMES`` at a time.

    Each block reads its frames plus ``halo`` neighbours either side (``halo_frames``: a caller that filters
    more than the poses asks for more), fills the plan's short gaps, fits every usable frame by PnP (each fit
    starting from the previous one) and smooths the rotation vectors and translations with the zero-lag
    local quadratic filter (``pose_sigma_frames``).
    """
    wanted = range(raw.n_frames) if frames is None else frames
    sigma = pose_sigma_frames(float(raw.fps))
    for start in range(wanted.start, wanted.stop, BLOCK_FRAMES):
        stop = min(wanted.stop, start + BLOCK_FRAMES)
        lo, hi = max(0, start - halo), min(raw.n_frames, stop + halo)
        landmarks = fill_gaps(
            read_rows(raw.landmarks_path, lo, hi).astype(np.float64), raw.found[lo:hi], plan.interpolated, lo
        )
        # A gap cut by the halo's edge has an anchor outside the block and stays unfilled: its frames are
        # left out here (they lie beyond every filter's reach from the block's own frames).
        valid = plan.usable[lo:hi] & np.isfinite(landmarks).all(axis=(1, 2))
        params = local_quadratic_filter(_fit_block_poses(model, landmarks, valid, camera), valid, sigma)
        yield PoseBlock(lo=lo, start=start, stop=stop, landmarks=landmarks, valid=valid, params=params)
