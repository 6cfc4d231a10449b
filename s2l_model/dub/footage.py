"""Background footage for dubbing: per-frame head poses in a profile's canonical space.

The profile's own footage comes with its tracks (``FootageTracks.from_profile``); other footage of the same
speaker (``s2l dub --video``) is tracked on the fly and mapped into the profile's canonical space.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from s2l_model.dataset.trainset import crop_origins, project_blend_box
from s2l_model.errors import InputError
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.headpose import HeadModel, fit_pose
from s2l_model.geometry.pose import Pose
from s2l_model.media import probe_video
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.render.compose import FramePoses
from s2l_model.tracking.refine import BLOCK_FRAMES, POSE_SIGMA_SECONDS
from s2l_model.tracking.smooth import MAX_GAP_SECONDS, fill_gaps, local_quadratic_filter, plan_gaps
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import RawTrack, track_video

StageFn = Callable[[str, int, int], None]  # (stage name, done, total)

#: What a profile must keep to pose other footage in its canonical space (profiles built before
#: ``s2l dub --video`` existed lack them).
GEOMETRY_ARRAYS = ("head_model", "head_stable", "canonical_rotation", "canonical_translation")
#: Below this share of usable frames in the wanted range the dub would mostly show the footage's own
#: mouth: refuse rather than hand back a result that is not lip-synced.
MIN_USABLE_FRACTION = 0.5
FIT_TOLERANCE_PX = 1.0  # rounding of the crop origin: the blend box may touch the crop's edge


@dataclass(frozen=True)
class FootageTracks:
    """What rendering needs of every footage frame: the relative head pose (canonical camera → observed
    camera, Y = R X + t), the top-left corner of the crop around the lower face, and whether it is usable."""

    fps: Fraction
    size: tuple[int, int]  # (width, height)
    rotations: np.ndarray  # (N, 3, 3) float32
    translations: np.ndarray  # (N, 3) float32
    origins: np.ndarray  # (N, 2) int32, (x, y)
    usable: np.ndarray  # (N,) bool

    @property
    def n_frames(self) -> int:
        return len(self.usable)

    def poses(self, index: np.ndarray) -> FramePoses:
        """The poses and times of footage frames ``index``, for the compositor."""
        return FramePoses(
            rotations=self.rotations[index],
            translations=self.translations[index],
            seconds=(np.asarray(index) / float(self.fps)).astype(np.float32),
        )

    @classmethod
    def from_profile(cls, profile: SpeakerProfile) -> FootageTracks:
        a = profile.arrays
        usable = a["usable"].astype(bool)
        return cls(
            fps=profile.fps,
            size=(profile.manifest.width, profile.manifest.height),
            rotations=np.nan_to_num(a["rotations"]).astype(np.float32),
            translations=np.nan_to_num(a["translations"]).astype(np.float32),
            origins=a["origins"].astype(np.int32),
            usable=usable,
        )


def _orthonormal(matrix: np.ndarray) -> np.ndarray:
    """The rotation nearest to a (float32-rounded) 3x3 matrix, so the relative poses stay rigid."""
    u, _, vt = np.linalg.svd(matrix.astype(np.float64))
    return u @ np.diag([1.0, 1.0, np.linalg.det(u @ vt)]) @ vt


def profile_geometry(profile: SpeakerProfile) -> tuple[HeadModel, Pose]:
    """The profile's head model and canonical pose (head model → canonical camera)."""
    a = profile.arrays
    if any(name not in a for name in GEOMETRY_ARRAYS):
        raise InputError(
            f"{profile.path.name} was built by an older s2l (it keeps no head model); "
            "rebuild it to dub onto other footage"
        )
    model = HeadModel(points=a["head_model"].astype(np.float64), stable=a["head_stable"].astype(np.int64))
    canonical = Pose(_orthonormal(a["canonical_rotation"]), a["canonical_translation"].astype(np.float64))
    return model, canonical


def _pose_sigma(fps: Fraction) -> float:
    return max(0.5, POSE_SIGMA_SECONDS * float(fps))


def halo_frames(fps: Fraction) -> int:
    """Frames either side of a range that its poses depend on: the pose filter's reach plus the longest
    interpolated gap (as in ``refine_tracks``)."""
    return int(np.ceil(3.0 * _pose_sigma(fps))) + round(MAX_GAP_SECONDS * float(fps)) + 2


def _fit_poses(
    raw: RawTrack,
    usable: np.ndarray,
    gaps: list[tuple[int, int]],
    model: HeadModel,
    camera: PinholeCamera,
    frames: range,
    on_progress: Callable[[int, int], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Absolute poses of ``frames`` against the profile's head model and camera, smoothed like the profile's
    own (same filter and sigma as ``refine_tracks``): (n, 3, 3) rotations and (n, 3) translations, NaN where
    not usable. Blocks with a halo keep memory flat and the zero-lag filter exact at block edges."""
    sigma = _pose_sigma(raw.fps)
    halo = halo_frames(raw.fps)
    n = len(frames)
    rotations = np.full((n, 3, 3), np.nan)
    translations = np.full((n, 3), np.nan)
    for start in range(frames.start, frames.stop, BLOCK_FRAMES):
        stop = min(frames.stop, start + BLOCK_FRAMES)
        lo, hi = max(0, start - halo), min(raw.n_frames, stop + halo)
        landmarks = read_rows(raw.landmarks_path, lo, hi).astype(np.float64)
        block = fill_gaps(landmarks, raw.found[lo:hi], gaps, lo)
        valid = usable[lo:hi]
        params = np.full((hi - lo, 6), np.nan)
        guess: Pose | None = None
        for i in np.flatnonzero(valid):
            guess = fit_pose(model, block[i], camera, guess)  # each fit starts from the previous one
            params[i, :3] = Rotation.from_matrix(guess.rotation).as_rotvec()
            params[i, 3:] = guess.translation
        params = local_quadratic_filter(params, valid, sigma)
        keep = slice(start - lo, stop - lo)
        out = slice(start - frames.start, stop - frames.start)
        ok = valid[keep]
        if ok.any():  # scipy refuses an empty set of rotations
            rotations[out][ok] = Rotation.from_rotvec(params[keep][ok, :3]).as_matrix()
            translations[out][ok] = params[keep][ok, 3:]
        if on_progress is not None:
            on_progress(stop - frames.start, n)
    return rotations, translations


def _relative(
    canonical: Pose, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``relative_pose(canonical, observed)`` for all frames: Y = R_obs R_can^T (X - t_can) + t_obs."""
    rel_r = rotations @ canonical.rotation.T
    rel_t = translations - rel_r @ canonical.translation
    return rel_r, rel_t


def _overflow(
    profile: SpeakerProfile, rotations: np.ndarray, translations: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For posed frames: crop origins (n, 2) int32 as the training set places them (the projected blend box
    centre minus half the profile's crop, clipped into the frame); how far the part of the projected blend
    box inside the frame reaches past the crop (n, 4) px, (left, top, right, bottom), <= 0 inside; and
    whether the box is usable at all (in front of the camera, its centre inside the frame) (n,) bool.

    The depth of the box's points is the mesh depth the training set used (the model's initial depth
    buffer is that map cut to the working patch), so the profile's own frames get their stored origins."""
    layout = profile.model.layout
    width, height = layout.width, layout.height
    crop_w, crop_h = layout.crop_size
    proj, proj_z = project_blend_box(
        layout.blend_box,
        profile.model.depth.initial.detach().cpu().numpy(),
        (layout.patch.x0, layout.patch.y0),
        layout.camera,
        rotations,
        translations,
    )
    centre = proj[:, 4]
    origins = crop_origins(centre, layout.crop_size, (width, height))
    # What lies beyond the frame is not shown anyway, so the box is first clipped to the frame.
    lo = np.clip(proj[:, :4].min(axis=1), 0, [width - 1, height - 1])
    hi = np.clip(proj[:, :4].max(axis=1), 0, [width - 1, height - 1])
    start = origins.astype(np.float64)
    end = start + np.array([crop_w - 1, crop_h - 1])
    overflow = np.concatenate([start - lo, hi - end], axis=1)
    inside_frame = (centre >= 0).all(axis=1) & (centre <= [width - 1, height - 1]).all(axis=1)
    return origins.astype(np.int32), overflow, (proj_z > 0).all(axis=1) & inside_frame


def trained_overflow(profile: SpeakerProfile) -> np.ndarray:
    """(4,) how far the blend box reached past the crop in the profile's own usable frames, at most (px,
    (left, top, right, bottom), at least 0). The crop is placed around the box's projected centre, so under
    head rotation the box can poke a few pixels out of it; the model was trained on such frames."""
    a = profile.arrays
    usable = a["usable"].astype(bool)
    if not usable.any():
        return np.zeros(4)
    rotations = np.nan_to_num(a["rotations"][usable]).astype(np.float32)
    translations = np.nan_to_num(a["translations"][usable]).astype(np.float32)
    _, overflow, valid = _overflow(profile, rotations, translations)
    return np.maximum(overflow[valid].max(axis=0), 0.0) if valid.any() else np.zeros(4)


def crop_layout(
    profile: SpeakerProfile, rotations: np.ndarray, translations: np.ndarray, posed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Crop origins (N, 2) int32 as the training set places them, and whether the frame is within what the
    model knows (N,) bool; ``posed`` marks frames with a pose.

    The profile's crop covers the blend region at every scale the model was trained on (Blend-Net learned
    its residual on such crops): where the region reaches past the crop further than it ever did in the
    profile's own frames (``trained_overflow``: a larger or nearer face than in the profile's footage), the
    frame is outside what the model knows, so it is not dubbed."""
    n = len(posed)
    origins = np.zeros((n, 2), np.int32)
    fits = np.zeros(n, bool)
    idx = np.flatnonzero(posed)
    if len(idx) == 0:
        return origins, fits
    origins[idx], overflow, valid = _overflow(profile, rotations[idx], translations[idx])
    allowed = trained_overflow(profile) + FIT_TOLERANCE_PX
    fits[idx] = valid & (overflow <= allowed).all(axis=1)
    return origins, fits


def track_footage(
    video: Path,
    profile: SpeakerProfile,
    *,
    workdir: Path,
    start_frame: int = 0,
    max_frames: int | None = None,
    face: int | None = None,
    min_usable: float = MIN_USABLE_FRACTION,
    on_progress: StageFn | None = None,
) -> FootageTracks:
    """Track other footage of the profile's speaker and pose it in the profile's canonical space.

    Frame k of the result is frame ``start_frame + k`` of ``video``; at most ``max_frames`` frames. The face
    mesh is tracked as ``prepare`` does (``track_video``, gaps up to 0.25 s interpolated), but every frame's
    pose is fitted to the *profile's* head model under the *profile's* camera and smoothed like the
    profile's own poses, then made relative to the profile's canonical pose. ``usable``: the face was seen
    (or the gap interpolated) and the lower face fits the profile's crop. Poses and origins are kept for
    posed frames whose crop does not fit; frames without a pose get zeros (as ``from_profile`` gives).

    ``track_video`` reads from the first frame, so frames before ``start_frame`` are tracked too (the cost
    grows with the start), and so are ``halo_frames`` (0.64 s) after the range: the smoothing and the gaps at
    both ends see the same neighbours as in a run over the whole video.
    ``workdir`` receives the raw landmarks (``landmarks_raw.npy``). ``face``: which face to follow (1-based,
    left to right on the first frame with faces; None: the largest). ``min_usable``: the share of the wanted
    frames that must be usable (a caller that needs only some frames checks those itself, with 0).

    Raises InputError (one line) for an old profile without its head model, a file that is not a readable
    video, a resolution other than the profile's (a documented limit: the profile's camera and crop are in
    its pixels), a start beyond the end, or a face seen in too few of the wanted frames.
    """
    model, canonical = profile_geometry(profile)  # first: refusing an old profile needs no decoding
    if start_frame < 0:
        raise InputError(f"the start frame must not be negative (got {start_frame})")
    if max_frames is not None and max_frames < 1:
        raise InputError(f"at least one frame of footage is needed (got max_frames={max_frames})")
    video = Path(video)
    info = probe_video(video)  # InputError for a missing file, not a video, no frames
    assert info.video is not None
    size = (info.video.width, info.video.height)
    layout = profile.model.layout
    wanted = (layout.width, layout.height)
    if size != wanted:
        raise InputError(
            f"{video.name} is {size[0]}x{size[1]} but {profile.path.name} was built from "
            f"{wanted[0]}x{wanted[1]} footage: other footage must have the profile's resolution"
        )
    total = info.video.n_frames
    if start_frame >= total:
        raise InputError(
            f"start frame {start_frame} is beyond the end of {video.name} "
            f"({total} frames, {float(total / info.video.fps):.2f} s)"
        )
    stop = total if max_frames is None else min(total, start_frame + max_frames)

    def stage(name: str) -> Callable[[int, int], None] | None:
        return None if on_progress is None else (lambda done, of: on_progress(name, done, of))

    workdir.mkdir(parents=True, exist_ok=True)
    # A halo of frames after the range is tracked too, so the last frames are smoothed and their gaps
    # interpolated as in a longer run: a range's poses do not depend on where it is cut.
    raw = track_video(
        video,
        workdir,
        face_number=face,
        max_frames=stop + halo_frames(info.video.fps),
        on_progress=stage("tracking"),
    )
    stop = min(stop, raw.n_frames)  # the container's frame count can be an estimate
    if start_frame >= stop:
        raise InputError(
            f"start frame {start_frame} is beyond the end of {video.name} ({raw.n_frames} frames decoded)"
        )
    frames = range(start_frame, stop)
    plan = plan_gaps(raw.found, max(1, round(MAX_GAP_SECONDS * float(raw.fps))))
    tracked = plan.usable[start_frame:stop]
    need = int(np.ceil(min_usable * len(frames)))
    where = f"frames {start_frame}-{stop - 1} of {video.name}"
    if tracked.sum() < need:
        raise InputError(
            f"the face is seen in only {int(tracked.sum())} of {len(frames)} {where}; "
            f"dubbing needs it in at least {min_usable:.0%} of them"
        )

    absolute_r, absolute_t = _fit_poses(
        raw, plan.usable, plan.interpolated, model, layout.camera, frames, stage("head poses")
    )
    posed = tracked & np.isfinite(absolute_r).all(axis=(1, 2)) & np.isfinite(absolute_t).all(axis=1)
    rotations, translations = _relative(canonical, absolute_r, absolute_t)
    rotations[~posed], translations[~posed] = 0.0, 0.0
    origins, fits = crop_layout(profile, rotations, translations, posed)
    usable = posed & fits
    if usable.sum() < need:
        raise InputError(
            f"the lower face fits the profile's crop in only {int(usable.sum())} of {len(frames)} {where} "
            "(the face is larger or nearer the frame's edge than in the profile's footage)"
        )
    return FootageTracks(
        fps=raw.fps,
        size=size,
        rotations=rotations.astype(np.float32),
        translations=translations.astype(np.float32),
        origins=origins,
        usable=usable,
    )
