"""Checks and pictures of a prepared video: is the geometry right?

- motion heatmap (paper Fig. 2): per-pixel temporal std of the grey frames before and after warping into
  canonical space; after warping, motion should sit in the mouth box. Reported as the ratio of mean
  motion inside the mouth box to mean motion over the rest of the face (the mesh-covered face in
  canonical space, where the geometry is measured rather than extrapolated).
- landmark agreement: the face mesh re-detected on warped frames should put the eye corners and nose where
  the canonical frame has them (median px, scaled to a 512 px frame).
- round trip: O2C followed by C2O should bring canonical face pixels home (median px).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import cv2
import numpy as np

from s2l_model.geometry.topology import EYE_CORNERS, NOSE_POINTS, landmark_set
from s2l_model.media.atomic import write_json, write_png
from s2l_model.prepare.gamem import roundtrip_error
from s2l_model.prepare.pipeline import Prepared, frames_at
from s2l_model.prepare.workfolder import PrepFolder
from s2l_model.tracking.mesh import FaceBox, MeshTracker

MOTION_SAMPLES = 200
AGREEMENT_SAMPLES = 40
ROUNDTRIP_SAMPLES = 8
SHEET_FRAMES = 6
CHECK_POINTS = np.array(EYE_CORNERS + NOSE_POINTS)


@dataclass(frozen=True)
class Inspection:
    motion_ratio_before: float  # mean motion inside mouth box / rest of the face, observed frames
    motion_ratio_after: float  # the same after O2C warping
    landmark_agreement_px: float  # median eye/nose distance, warped frames vs canonical (at 512 px)
    roundtrip_px: float  # median O2C→C2O error over face pixels, median over sampled frames
    frames_used: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _detect(tracker: MeshTracker, image: np.ndarray) -> np.ndarray | None:
    height, width = image.shape[:2]
    tracker.start(FaceBox(0, 0, width, height), width, height)
    return tracker.process(image)


def _ratio(motion: np.ndarray, box_mask: np.ndarray, head: np.ndarray) -> float:
    outside = head & ~box_mask
    return float(motion[box_mask].mean() / max(motion[outside].mean(), 1e-6))


def _heat(motion: np.ndarray, scale: float) -> np.ndarray:
    norm = np.clip(motion / max(scale, 1e-6) * 255, 0, 255).astype(np.uint8)
    return cv2.cvtColor(cv2.applyColorMap(norm, cv2.COLORMAP_INFERNO), cv2.COLOR_BGR2RGB)


def contact_sheet(images: list[np.ndarray], columns: int = 3, tile: int = 256) -> np.ndarray:
    tiles = []
    for image in images:
        h, w = image.shape[:2]
        tiles.append(cv2.resize(image, (tile, max(1, round(h * tile / w))), interpolation=cv2.INTER_AREA))
    height = max(t.shape[0] for t in tiles)
    tiles += [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [
        np.concatenate(
            [np.pad(t, ((0, height - t.shape[0]), (0, 0), (0, 0))) for t in tiles[i : i + columns]], axis=1
        )
        for i in range(0, len(tiles), columns)
    ]
    return np.concatenate(rows, axis=0)


def _draw_landmarks(frame: np.ndarray, landmarks: np.ndarray, stable: np.ndarray) -> np.ndarray:
    out = frame.copy()
    lips = set(landmark_set("lips"))
    stable_set = set(int(i) for i in stable)
    radius = max(1, round(frame.shape[1] / 400))
    for i, (x, y) in enumerate(landmarks[:, :2]):
        if not np.isfinite(x):
            continue
        colour = (255, 60, 60) if i in lips else (60, 230, 60) if i in stable_set else (230, 230, 230)
        cv2.circle(out, (round(float(x)), round(float(y))), radius, colour, -1, cv2.LINE_AA)
    return out


def _draw_box(image: np.ndarray, prepared: Prepared) -> np.ndarray:
    b = prepared.box
    out = image.copy()
    cv2.rectangle(out, (b.x0, b.y0), (b.x0 + b.width - 1, b.y0 + b.height - 1), (0, 200, 255), 2)
    return out


def inspect(prepared: Prepared, *, pictures: bool = True) -> Inspection:
    """Measure the geometry of a prepared video; with ``pictures``, write them to ``workdir/debug``."""
    tracks = prepared.tracks
    usable = np.flatnonzero(tracks.usable)
    picks = usable[np.linspace(0, len(usable) - 1, min(MOTION_SAMPLES, len(usable))).astype(int)]
    agree_at = set(
        picks[np.linspace(0, len(picks) - 1, min(AGREEMENT_SAMPLES, len(picks))).astype(int)].tolist()
    )
    sheet_at = set(picks[np.linspace(0, len(picks) - 1, min(SHEET_FRAMES, len(picks))).astype(int)].tolist())
    size = (prepared.height, prepared.width)
    sums = {k: np.zeros(size) for k in ("before", "after")}
    squares = {k: np.zeros(size) for k in ("before", "after")}
    overlays, warped_tiles = [], [_draw_box(prepared.canonical_image, prepared)]
    distances = []
    scale_512 = 512.0 / max(prepared.width, prepared.height)
    tracker = MeshTracker()
    try:
        reference = _detect(tracker, prepared.canonical_image)
        for index, frame in frames_at(prepared.video, picks):
            pose = tracks.pose(index)
            warped = prepared.geometry.to_canonical_image(frame, pose)
            for key, image in (("before", frame), ("after", warped)):
                grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
                sums[key] += grey
                squares[key] += grey * grey
            if index in agree_at and reference is not None:
                found = _detect(tracker, warped)
                if found is not None:
                    d = np.linalg.norm(found[CHECK_POINTS, :2] - reference[CHECK_POINTS, :2], axis=1)
                    distances.append(float(np.median(d)) * scale_512)
            if pictures and index in sheet_at:
                lm = prepared.landmarks(index, index + 1)[0]
                overlays.append(_draw_landmarks(frame, lm, tracks.model.stable))
                warped_tiles.append(_draw_box(warped, prepared))
    finally:
        tracker.close()
    count = len(picks)
    motion = {k: np.sqrt(np.maximum(squares[k] / count - (sums[k] / count) ** 2, 0)) for k in sums}
    box_mask = np.zeros(size, bool)
    box_mask[prepared.box.slices] = True
    head = prepared.depth.head_mask
    face = prepared.depth.face_mask
    roundtrips = [
        roundtrip_error(prepared.geometry, tracks.pose(int(f)), prepared.depth.face_mask)
        for f in usable[np.linspace(0, len(usable) - 1, min(ROUNDTRIP_SAMPLES, len(usable))).astype(int)]
    ]
    result = Inspection(
        motion_ratio_before=_ratio(motion["before"], box_mask, face),
        motion_ratio_after=_ratio(motion["after"], box_mask, face),
        landmark_agreement_px=float(np.median(distances)) if distances else float("nan"),
        roundtrip_px=float(np.nanmedian(roundtrips)),
        frames_used=count,
    )
    if pictures:
        folder = PrepFolder(prepared.workdir).debug
        folder.mkdir(exist_ok=True)
        write_png(folder / "landmarks.png", contact_sheet(overlays))
        write_png(folder / "warped.png", contact_sheet(warped_tiles))
        depth = prepared.depth.depth
        head_depth = depth[head]
        norm = np.clip((depth - head_depth.min()) / max(np.ptp(head_depth), 1e-6), 0, 1)
        depth_img = cv2.cvtColor(
            cv2.applyColorMap(np.round((1 - norm) * 255).astype(np.uint8), cv2.COLORMAP_VIRIDIS),
            cv2.COLOR_BGR2RGB,
        )
        depth_img[~head] = 0
        write_png(folder / "depth.png", depth_img)
        scale = float(np.percentile(motion["before"][head], 99))
        heat = np.concatenate(
            [
                _draw_box(_heat(motion["before"], scale), prepared),
                _draw_box(_heat(motion["after"], scale), prepared),
            ],
            axis=1,
        )
        write_png(folder / "motion.png", heat)
        write_json(folder / "inspection.json", result.to_dict())
    return result


def debug_files(workdir: Path) -> list[Path]:
    return [
        PrepFolder(workdir).debug / name
        for name in ("landmarks.png", "warped.png", "depth.png", "motion.png", "inspection.json")
    ]
