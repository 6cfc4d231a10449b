"""`prepare`: video → tracks → canonical view → depth → mouth region, written to a work folder.

Work folder contents (all plain data: .npy/.json/.png, no pickle):
    landmarks_raw.npy   (N, 478, 3) float32   mediapipe landmarks as detected, NaN where not seen
    landmarks.npy       (N, 478, 3) float32   filtered landmarks, NaN on excluded frames
    poses.npz           rotations (N,3,3), translations (N,3), usable (N,), head_model (478,3), stable
    frames.npz          sharpness, mouth_open, frontal_deg, canonical_cost per frame
    canonical.png       the canonical frame
    canonical_depth.npy (H, W) float32 canonical depth (initial value for training)
    face_mask.png, head_mask.png, mouth_mask.png   canonical-space masks (mouth: soft, 0-255)
    geometry.json       camera, canonical choice, mouth box, gaps, focal-length measurement
The paths are named by ``s2l_model.prepare.workfolder.PrepFolder``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from s2l_model import __version__
from s2l_model.errors import InputError
from s2l_model.geometry.canonical import CanonicalChoice, choose_canonical, frontal_angles
from s2l_model.geometry.depth import CanonicalDepth, canonical_depth
from s2l_model.geometry.mouth import MouthBox, lip_indices, mouth_box, soft_mask
from s2l_model.geometry.topology import landmark_set, mesh_triangles
from s2l_model.media import MediaInfo, iter_frames, probe_video
from s2l_model.media.atomic import atomic_output, write_json, write_png
from s2l_model.prepare.gamem import Geometry
from s2l_model.prepare.workfolder import PrepFolder
from s2l_model.progress import CountFn, StageFn
from s2l_model.tracking.poses import BLOCK_FRAMES
from s2l_model.tracking.refine import Tracks, refine_tracks
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video

FORMAT_VERSION = 1
MOUTH_SAMPLES = 500


@dataclass
class Prepared:
    """A prepared video, as read back from its work folder."""

    workdir: Path
    video: Path
    fps: Fraction
    width: int
    height: int
    tracks: Tracks
    canonical: CanonicalChoice
    canonical_image: np.ndarray
    depth: CanonicalDepth
    box: MouthBox
    mouth_mask: np.ndarray
    geometry: Geometry
    summary: dict[str, Any]  # what geometry.json says: camera, canonical choice, mouth box, gaps
    info: MediaInfo  # the video's probe, so that later stages decode it without probing again

    def landmarks(self, start: int, stop: int) -> np.ndarray:
        return read_rows(self.tracks.landmarks_path, start, stop)


def frames_at(
    video: str | os.PathLike[str], indices: Iterable[int], *, info: MediaInfo | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(index, frame) for the wanted frame indices, in order, decoding the video once as a stream."""
    wanted = sorted(set(int(i) for i in indices))
    if not wanted:
        return
    k = 0
    for index, frame in enumerate(iter_frames(video, info=info, max_frames=wanted[-1] + 1)):
        if index == wanted[k]:
            yield index, frame
            k += 1
            if k == len(wanted):
                return


def seconds(frame: int, fps: Fraction) -> float:
    return round(float(frame / fps), 3)


def _ranges(ranges: list[tuple[int, int]], fps: Fraction) -> list[dict[str, float]]:
    return [
        {"start_frame": a, "stop_frame": b, "start_s": seconds(a, fps), "stop_s": seconds(b, fps)}
        for a, b in ranges
    ]


def _model_depths(tracks: Tracks, frames: np.ndarray) -> np.ndarray:
    """(K, 478) camera depth of each posed model landmark."""
    cam = np.einsum("kij,pj->kpi", tracks.rotations[frames].astype(np.float64), tracks.model.points)
    return cam[..., 2] + tracks.translations[frames, None, 2].astype(np.float64)


def prepare_video(
    video: str | os.PathLike[str],
    workdir: str | os.PathLike[str],
    *,
    face_number: int | None = None,
    canonical_frame: int | None = None,
    max_frames: int | None = None,
    canonical_before: float | None = None,
    on_stage: StageFn | None = None,
    info: MediaInfo | None = None,
) -> Prepared:
    """Track the speaker and build the canonical geometry; write everything to ``workdir``.

    ``canonical_before``: choose the canonical view among the first fraction of the frames only (the
    training part: a held-out frame must not leak into the model as its canonical image). ``info``: the
    video's probe, where the caller has it already.
    """
    out = Path(workdir)
    files = PrepFolder(out)
    info = info or probe_video(video)
    assert info.video is not None
    if canonical_frame is not None and canonical_frame >= info.video.n_frames:
        raise InputError(f"--canonical-frame {canonical_frame}: the video has {info.video.n_frames} frames")
    out.mkdir(parents=True, exist_ok=True)

    def progress(stage: str) -> CountFn | None:
        return None if on_stage is None else (lambda done, total: on_stage(stage, done, total))

    raw = track_video(
        video,
        out,
        face_number=face_number,
        max_frames=max_frames,
        on_progress=progress("tracking"),
        info=info,
    )
    tracks = refine_tracks(raw, out, on_progress=progress("filtering"))
    n = tracks.n_frames
    if canonical_frame is not None and not (0 <= canonical_frame < n and raw.found[canonical_frame]):
        raise InputError(
            f"--canonical-frame {canonical_frame}: choose a frame in 0..{n - 1} where the face is seen"
        )

    frontal = np.full(n, np.nan)
    for start in range(0, n, BLOCK_FRAMES):  # a block at a time: memory stays flat in video length
        stop = min(n, start + BLOCK_FRAMES)
        lm = read_rows(tracks.landmarks_path, start, stop)
        ok = tracks.usable[start:stop]
        if ok.any():
            idx = np.flatnonzero(ok) + start
            frontal[idx] = frontal_angles(
                tracks.model,
                tracks.rotations[idx].astype(np.float64),
                tracks.translations[idx].astype(np.float64),
                lm[ok],
            )
    candidates = raw.found & tracks.usable
    if canonical_before is not None:
        candidates &= np.arange(n) < max(1, int(n * canonical_before))
    choice = choose_canonical(frontal, tracks.mouth_open, tracks.sharpness, candidates, canonical_frame)
    c = choice.frame
    _, image = next(frames_at(video, [c], info=info))

    # Canonical depth: the canonical frame's own landmark positions, at the posed head model's depths.
    can_lm = read_rows(tracks.landmarks_path, c, c + 1)[0].astype(np.float64)
    vertex_depth = _model_depths(tracks, np.array([c]))[0]
    size = (tracks.height, tracks.width)
    depth = canonical_depth(
        can_lm[:, :2], vertex_depth, mesh_triangles(), np.array(landmark_set("face_oval")), size
    )
    geometry = Geometry(camera=tracks.camera, canonical_pose=tracks.pose(c), canonical_depth=depth.depth)

    # Mouth box from lip positions of many frames mapped into canonical space.
    usable = np.flatnonzero(tracks.usable)
    picks = usable[np.linspace(0, len(usable) - 1, min(MOUTH_SAMPLES, len(usable))).astype(int)]
    lips = lip_indices()
    picked_depths = _model_depths(tracks, picks)
    lips_canonical = []
    for k, f in enumerate(picks):
        lm = read_rows(tracks.landmarks_path, int(f), int(f) + 1)[0]
        lips_canonical.append(
            geometry.points_to_canonical(
                lm[lips, :2].astype(np.float64), picked_depths[k, lips], tracks.pose(int(f))
            )
        )
    box = mouth_box(can_lm, np.stack(lips_canonical), size)
    mask = soft_mask(box, size)

    # Write: arrays, pictures, and the json that explains them.
    with atomic_output(files.poses) as tmp:
        np.savez(
            tmp,
            rotations=tracks.rotations,
            translations=tracks.translations,
            usable=tracks.usable,
            found=raw.found,
            head_model=tracks.model.points,
            stable=tracks.model.stable,
        )
    with atomic_output(files.frames) as tmp:
        np.savez(tmp, sharpness=tracks.sharpness, mouth_open=tracks.mouth_open, frontal_deg=frontal)
    with atomic_output(files.canonical_depth) as tmp:
        np.save(tmp, depth.depth)
    write_png(files.canonical_image, image)
    write_png(files.face_mask, depth.face_mask.astype(np.uint8) * 255)
    write_png(files.head_mask, depth.head_mask.astype(np.uint8) * 255)
    write_png(files.mouth_mask, np.round(mask * 255).astype(np.uint8))
    plan = tracks.plan
    summary = {
        "format_version": FORMAT_VERSION,
        "s2l_version": __version__,
        "video": str(Path(video).resolve()),
        "fps": f"{raw.fps.numerator}/{raw.fps.denominator}",
        "width": tracks.width,
        "height": tracks.height,
        "frames": n,
        "faces_found": len(raw.faces),
        "face_number": raw.face_number,
        "camera": {
            "model": "pinhole",
            "focal_px": tracks.camera.focal,
            "cx": tracks.camera.cx,
            "cy": tracks.camera.cy,
            "focal_over_size": tracks.camera.focal / max(tracks.width, tracks.height),
            "reprojection_px_by_focal_over_size": {
                str(k): round(v, 4) for k, v in tracks.focal_errors.items()
            },
        },
        "canonical": asdict(choice),
        "mouth_box": box.to_dict(),
        "frames_seen": int(raw.found.sum()),
        "frames_usable": int(tracks.usable.sum()),
        "interpolated": _ranges(plan.interpolated, raw.fps),
        "excluded": _ranges(plan.excluded, raw.fps),
    }
    write_json(files.geometry, summary)  # last: its presence marks a complete work folder
    return Prepared(
        workdir=out,
        video=Path(video),
        fps=raw.fps,
        width=tracks.width,
        height=tracks.height,
        tracks=tracks,
        canonical=choice,
        canonical_image=image,
        depth=depth,
        box=box,
        mouth_mask=mask,
        geometry=geometry,
        summary=summary,
        info=info,
    )
