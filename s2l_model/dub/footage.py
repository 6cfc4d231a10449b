"""Background footage for dubbing: per-frame head poses in a profile's canonical space.

The profile's own footage comes with its tracks (``FootageTracks.from_profile``); other footage of the same
speaker (``s2l dub --video``) is tracked on the fly and mapped into the profile's canonical space.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from s2l_model.errors import InputError
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.crop import CropLayout, crop_layout
from s2l_model.geometry.headpose import HeadModel
from s2l_model.geometry.pose import Pose, relative_poses
from s2l_model.media import probe_video
from s2l_model.profile.speaker import SpeakerProfile
from s2l_model.progress import CountFn, StageFn
from s2l_model.render.compose import FramePoses
from s2l_model.tracking.poses import fit_pose_track, halo_frames, pose_sigma_frames
from s2l_model.tracking.smooth import MAX_GAP_SECONDS, GapPlan, plan_gaps
from s2l_model.tracking.track import RawTrack, track_video

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


def _absolute_poses(
    raw: RawTrack,
    plan: GapPlan,
    model: HeadModel,
    camera: PinholeCamera,
    frames: range,
    halo: int,
    on_progress: CountFn | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Poses of ``frames`` against the profile's head model and camera, smoothed like the profile's own
    (``fit_pose_track``, as in ``refine_tracks``): (n, 3, 3) rotations and (n, 3) translations, NaN where not
    usable."""
    n = len(frames)
    rotations = np.full((n, 3, 3), np.nan)
    translations = np.full((n, 3), np.nan)
    for block in fit_pose_track(raw, plan, model, camera, halo=halo, frames=frames):
        out = slice(block.start - frames.start, block.stop - frames.start)
        rotations[out], translations[out] = block.own_poses()
        if on_progress is not None:
            on_progress(block.stop - frames.start, n)
    return rotations, translations


def _profile_crops(
    profile: SpeakerProfile, rotations: np.ndarray, translations: np.ndarray, posed: np.ndarray
) -> CropLayout:
    """The profile's crops placed as the training set places them, for relative poses where ``posed``.

    The depth of the blend box's points is the mesh depth the training set used (the model's initial depth
    buffer is that map cut to the working patch), so the profile's own frames get their stored origins."""
    layout = profile.model.layout
    return crop_layout(
        layout.blend_box,
        profile.model.depth.initial.detach().cpu().numpy(),
        (layout.patch.x0, layout.patch.y0),
        layout.camera,
        rotations,
        translations,
        posed,
        (layout.width, layout.height),
        layout.crop_size,
    )


def trained_overflow(profile: SpeakerProfile) -> np.ndarray:
    """(4,) how far the blend box reached past the crop in the profile's own usable frames, at most (px,
    (left, top, right, bottom), at least 0). The crop is placed around the box's projected centre, so under
    head rotation the box can poke a few pixels out of it; the model was trained on such frames."""
    a = profile.arrays
    usable = a["usable"].astype(bool)
    rotations = np.nan_to_num(a["rotations"][usable]).astype(np.float32)
    translations = np.nan_to_num(a["translations"][usable]).astype(np.float32)
    crops = _profile_crops(profile, rotations, translations, np.ones(len(rotations), bool))
    return np.maximum(crops.overflow[crops.in_view].max(axis=0), 0.0) if crops.in_view.any() else np.zeros(4)


def fitting_crops(
    profile: SpeakerProfile, rotations: np.ndarray, translations: np.ndarray, posed: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Crop origins (N, 2) int32 as the training set places them, and whether the frame is within what the
    model knows (N,) bool; ``posed`` marks frames with a pose.

    The profile's crop covers the blend region at every scale the model was trained on (Blend-Net learned
    its residual on such crops): where the region reaches past the crop further than it ever did in the
    profile's own frames (``trained_overflow``: a larger or nearer face than in the profile's footage), the
    frame is outside what the model knows, so it is not dubbed."""
    crops = _profile_crops(profile, rotations, translations, posed)
    allowed = trained_overflow(profile) + FIT_TOLERANCE_PX
    return crops.origins, crops.in_view & (crops.overflow <= allowed).all(axis=1)


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

    ``track_video`` seeks to the pose track's halo (``halo_frames``, 0.64 s) before ``start_frame`` and
    runs the halo past the range, and no further: the cost does not grow with the start, and the smoothing
    and the gaps at both ends see the same neighbours as in a run over the whole video.
    ``workdir`` receives the raw landmarks (``landmarks_raw.npy``). ``face``: which face to follow (1-based,
    left to right on the first frame with faces, counted from the halo before ``start_frame``; None: the
    largest). ``min_usable``: the share of the wanted frames that must be usable (a caller that needs only
    some frames checks those itself, with 0).

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

    def stage(name: str) -> CountFn | None:
        return None if on_progress is None else (lambda done, of: on_progress(name, done, of))

    workdir.mkdir(parents=True, exist_ok=True)
    # Tracking seeks to a halo of frames before the range and runs a halo past it, so the range's poses are
    # smoothed and its gaps interpolated as in a run over the whole video: a range's poses do not depend
    # on where it is cut. Rows of the raw track start at frame ``first``.
    fps = float(info.video.fps)
    halo = halo_frames(pose_sigma_frames(fps), fps)
    first = max(0, start_frame - halo)
    raw = track_video(
        video,
        workdir,
        face_number=face,
        start_frame=first,
        max_frames=stop + halo - first,
        on_progress=stage("tracking"),
        info=info,
    )
    stop = min(stop, first + raw.n_frames)  # the container's frame count can be an estimate
    if start_frame >= stop:
        raise InputError(
            f"start frame {start_frame} is beyond the end of {video.name} "
            f"({first + raw.n_frames} frames decoded)"
        )
    frames = range(start_frame - first, stop - first)  # rows of the raw track
    plan = plan_gaps(raw.found, max(1, round(MAX_GAP_SECONDS * float(raw.fps))))
    tracked = plan.usable[frames.start : frames.stop]
    need = int(np.ceil(min_usable * len(frames)))
    where = f"frames {start_frame}-{stop - 1} of {video.name}"
    if tracked.sum() < need:
        raise InputError(
            f"the face is seen in only {int(tracked.sum())} of {len(frames)} {where}; "
            f"dubbing needs it in at least {min_usable:.0%} of them"
        )

    absolute_r, absolute_t = _absolute_poses(
        raw, plan, model, layout.camera, frames, halo, stage("head poses")
    )
    posed = tracked & np.isfinite(absolute_r).all(axis=(1, 2)) & np.isfinite(absolute_t).all(axis=1)
    rotations, translations = relative_poses(canonical, absolute_r, absolute_t)
    rotations[~posed], translations[~posed] = 0.0, 0.0
    origins, fits = fitting_crops(profile, rotations, translations, posed)
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
