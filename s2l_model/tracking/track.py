"""Pass 1 of tracking: decode the video once, find the face, and write raw face-mesh landmarks per frame.

Streaming: one decoded frame is held at a time; landmarks go to disk as they come (``landmarks_raw.npy``,
NaN where the face is not seen). What stays in memory is a few numbers per frame.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from s2l_model.errors import InputError, NoFaceError
from s2l_model.geometry.topology import N_LANDMARKS
from s2l_model.media import MediaInfo, iter_frames, probe_video, seek_seconds
from s2l_model.progress import CountFn as ProgressFn
from s2l_model.tracking.mesh import FaceBox, FaceFinder, MeshTracker
from s2l_model.tracking.store import NpyAppender

SCANS_PER_SECOND = 5.0  # full-frame face search rate while no face is followed
SHARPNESS_WIDTH = 128  # px: the face is resized to this width before measuring sharpness


@dataclass
class RawTrack:
    """What pass 1 found: the raw landmarks file and a few numbers per frame."""

    landmarks_path: Path
    fps: Fraction
    width: int
    height: int
    found: np.ndarray  # (N,) bool: face-mesh landmarks exist for the frame
    sharpness: np.ndarray  # (N,) variance of the Laplacian of the face, NaN where not found
    faces: list[FaceBox] = field(default_factory=list)  # faces on the first frame that had any
    face_number: int = 1  # 1-based, left to right, in ``faces``
    #: the video's frame of row 0 (a track started at ``start_frame``): row i is frame first_frame + i
    first_frame: int = 0

    @property
    def n_frames(self) -> int:
        return len(self.found)


#: Forehead, eye corners and nose tip: sharpness is measured on the upper face, whose texture does not
#: change with speech (an open mouth adds edges and would look "sharper").
UPPER_FACE = (10, 33, 263, 1)


def face_sharpness(frame: np.ndarray, landmarks: np.ndarray) -> float:
    """Variance of the Laplacian of the upper face, at a fixed width (comparable across frames)."""
    box = FaceBox.around(landmarks[list(UPPER_FACE)])
    height, width = frame.shape[:2]
    x0, y0 = max(0, int(box.x0)), max(0, int(box.y0))
    x1, y1 = min(width, int(box.x0 + box.w) + 1), min(height, int(box.y0 + box.h) + 1)
    if x1 - x0 < 4 or y1 - y0 < 4:
        return float("nan")
    grey = cv2.cvtColor(frame[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY)
    scale = SHARPNESS_WIDTH / grey.shape[1]
    grey = cv2.resize(
        grey, (SHARPNESS_WIDTH, max(4, round(grey.shape[0] * scale))), interpolation=cv2.INTER_AREA
    )
    return float(cv2.Laplacian(grey, cv2.CV_32F).var())


def _choose(faces: list[FaceBox], face_number: int | None, frame_index: int) -> tuple[FaceBox, int]:
    if face_number is None:
        best = max(range(len(faces)), key=lambda i: faces[i].w * faces[i].h)
        return faces[best], best + 1
    if not 1 <= face_number <= len(faces):
        raise InputError(
            f"--face {face_number}: only {len(faces)} face(s) found (first seen at frame {frame_index}); "
            "faces are numbered from 1, left to right"
        )
    return faces[face_number - 1], face_number


def _nearest(faces: list[FaceBox], last: FaceBox) -> FaceBox | None:
    """The face nearest to where the followed face was last seen, if it is plausibly the same one."""
    lx, ly = last.centre
    best = min(faces, key=lambda b: (b.centre[0] - lx) ** 2 + (b.centre[1] - ly) ** 2, default=None)
    if best is None:
        return None
    if len(faces) > 1 and np.hypot(best.centre[0] - lx, best.centre[1] - ly) > 1.5 * last.size:
        return None  # several faces and none where ours was: do not jump to someone else
    return best


def track_video(
    video: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    face_number: int | None = None,
    start_frame: int = 0,
    max_frames: int | None = None,
    on_progress: ProgressFn | None = None,
    info: MediaInfo | None = None,
) -> RawTrack:
    """Track one face through ``video``; write ``out_dir/landmarks_raw.npy`` (N, 478, 3) float32 pixels.

    x, y are frame pixels; z is mediapipe's relative depth in the same pixel units (smaller = nearer).
    ``start_frame``: decoding seeks there (``seek_seconds``), so earlier frames are neither decoded nor
    tracked; row i is the video's frame ``start_frame + i`` (``RawTrack.first_frame``), and the faces are
    numbered on the first frame with faces from there. ``max_frames``: at most that many rows.
    Raises InputError when no face is found in the frames tracked. ``info``: the video's probe, if the
    caller has it.
    """
    info = info or probe_video(video)
    assert info.video is not None
    width, height, fps = info.video.width, info.video.height, info.video.fps
    if not 0 <= start_frame < info.video.n_frames:
        raise InputError(
            f"start frame {start_frame} is outside {Path(video).name} ({info.video.n_frames} frames)"
        )
    left = info.video.n_frames - start_frame
    total = left if max_frames is None else min(left, max_frames)
    scan_every = max(1, round(float(fps) / SCANS_PER_SECOND))
    out = Path(out_dir)
    found: list[bool] = []
    sharpness: list[float] = []
    faces: list[FaceBox] = []
    chosen = 1
    finder = FaceFinder()
    tracker = MeshTracker()
    following = False
    last_box: FaceBox | None = None
    lost_for = 0
    missing = np.full((N_LANDMARKS, 3), np.nan, np.float32)
    try:
        with NpyAppender(out / "landmarks_raw.npy", (N_LANDMARKS, 3), np.float32) as store:
            decoded = iter_frames(
                video, info=info, start=seek_seconds(start_frame, fps), max_frames=max_frames
            )
            for row, frame in enumerate(decoded):
                index = start_frame + row
                landmarks = None
                if not following and lost_for % scan_every == 0:
                    if not faces:
                        candidates = finder.find(frame)
                        if candidates:
                            faces = candidates
                            target, chosen = _choose(candidates, face_number, index)
                            tracker.start(target, width, height)
                            following = True
                    elif last_box is not None:
                        again = _nearest(finder.find(frame), last_box)
                        if again is not None:
                            tracker.start(again, width, height)
                            following = True
                if following:
                    landmarks = tracker.process(frame)
                if landmarks is not None and last_box is not None and lost_for == 0:
                    jump = np.hypot(*(np.subtract(FaceBox.around(landmarks).centre, last_box.centre)))
                    if jump > 0.6 * last_box.size:  # the mesh latched onto another face
                        landmarks = None
                if landmarks is None:
                    store.append(missing[None])
                    found.append(False)
                    sharpness.append(float("nan"))
                    lost_for += 1
                    # mediapipe re-detects inside its crop by itself; when the crop is smaller than the
                    # frame, search the whole frame every so often too.
                    crop = tracker.crop
                    if (
                        following
                        and crop is not None
                        and crop.side < min(width, height)
                        and lost_for > scan_every
                    ):
                        following = False
                else:
                    store.append(landmarks[None])
                    found.append(True)
                    sharpness.append(face_sharpness(frame, landmarks))
                    last_box = FaceBox.around(landmarks)
                    lost_for = 0
                if on_progress is not None:
                    on_progress(row + 1, total)
    finally:
        finder.close()
        tracker.close()
    if not any(found):
        (out / "landmarks_raw.npy").unlink(missing_ok=True)
        where = f" from frame {start_frame}" if start_frame else ""
        raise NoFaceError(f"no face found in {Path(video).name} ({len(found)} frames searched{where})")
    return RawTrack(
        landmarks_path=out / "landmarks_raw.npy",
        fps=fps,
        width=width,
        height=height,
        found=np.array(found, dtype=bool),
        sharpness=np.array(sharpness, dtype=np.float64),
        faces=faces,
        face_number=chosen,
        first_frame=start_frame,
    )
