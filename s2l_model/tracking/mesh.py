"""Face detection and per-frame face-mesh landmarks with mediapipe (models ship in the 0.10.21 wheel).

The mesh runs on a square crop around the chosen face rather than on the whole frame: a small face in a
large frame (a 1080x1920 portrait video) gets the landmark model's full resolution, and other faces in
the picture stay out of its view. The crop follows the face with hysteresis.

mediapipe runs in *static* mode (detector + landmark model on every frame). Its video mode places each
frame's landmark crop from the previous frame's landmarks, chin included, so when the jaw drops the crop
moves and the whole mesh shifts with it: on the still sample head that made the non-mouth points jitter
0.30 px (std, mean over points) against 0.22 px in static mode, at 330 vs 210 frames/s for the mesh alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from s2l_model.geometry.topology import N_LANDMARKS
from s2l_model.native import quiet_native_stderr

os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's C++ logging is noise for users

CROP_FACE_RATIO = 2.2  # crop side / face size: room for head motion between re-centrings
RECENTRE_SHIFT = 0.08  # re-centre once the face moved this fraction of the crop side
RECENTRE_SCALE = 0.2  # ... or its size changed by this fraction
MIN_CROP = 128  # px: below this the landmark model would upsample a tiny face anyway
_BLANK = np.zeros((64, 64, 3), np.uint8)


@dataclass(frozen=True)
class FaceBox:
    """A face in frame pixels (x0, y0 top-left; w, h size) with the detector's score."""

    x0: float
    y0: float
    w: float
    h: float
    score: float = 1.0

    @property
    def centre(self) -> tuple[float, float]:
        return self.x0 + self.w / 2, self.y0 + self.h / 2

    @property
    def size(self) -> float:
        return max(self.w, self.h)

    @classmethod
    def around(cls, landmarks: np.ndarray) -> FaceBox:
        lo, hi = landmarks[:, :2].min(axis=0), landmarks[:, :2].max(axis=0)
        return cls(float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1]))


def _tiles(width: int, height: int) -> list[tuple[int, int, int]]:
    """Overlapping square tiles (x0, y0, side) covering a frame, for finding faces too small to see whole."""
    side = min(width, height)
    tiles = [(0, 0, side)] if width == height else []
    for fraction in (1.0, 0.5):
        s = max(64, int(side * fraction))
        step = max(1, s // 2)
        xs = sorted({*range(0, max(1, width - s + 1), step), max(0, width - s)})
        ys = sorted({*range(0, max(1, height - s + 1), step), max(0, height - s)})
        tiles += [(x, y, s) for y in ys for x in xs]
    return list(dict.fromkeys(tiles))


def _overlap(a: FaceBox, b: FaceBox) -> float:
    ix = max(0.0, min(a.x0 + a.w, b.x0 + b.w) - max(a.x0, b.x0))
    iy = max(0.0, min(a.y0 + a.h, b.y0 + b.h) - max(a.y0, b.y0))
    inter = ix * iy
    return inter / max(1e-9, a.w * a.h + b.w * b.h - inter)


class FaceFinder:
    """Finds every face in a frame: mediapipe's full-range detector on the frame and on tiles of it."""

    def __init__(self, min_score: float = 0.6) -> None:
        import mediapipe as mp

        with quiet_native_stderr():
            self._detector = mp.solutions.face_detection.FaceDetection(
                model_selection=1, min_detection_confidence=min_score
            )
            self._detector.process(_BLANK)  # the graph's threads log once they start: let them, quietly

    def close(self) -> None:
        self._detector.close()

    def _detect(self, image: np.ndarray, x0: int, y0: int, side_w: int, side_h: int) -> list[FaceBox]:
        with quiet_native_stderr():
            result = self._detector.process(np.ascontiguousarray(image))
        boxes = []
        for det in result.detections or []:
            rel = det.location_data.relative_bounding_box
            boxes.append(
                FaceBox(
                    x0 + rel.xmin * side_w,
                    y0 + rel.ymin * side_h,
                    rel.width * side_w,
                    rel.height * side_h,
                    float(det.score[0]),
                )
            )
        return boxes

    def find(self, frame: np.ndarray) -> list[FaceBox]:
        """All faces, merged across tiles, ordered left to right."""
        height, width = frame.shape[:2]
        found = self._detect(frame, 0, 0, width, height)
        for x, y, side in _tiles(width, height):
            if side >= min(width, height) and found:
                continue
            found += self._detect(frame[y : y + side, x : x + side], x, y, side, side)
        merged: list[FaceBox] = []
        for box in sorted(found, key=lambda b: -b.score):
            if all(_overlap(box, kept) < 0.3 for kept in merged):
                merged.append(box)
        return sorted(merged, key=lambda b: b.x0)


@dataclass
class Crop:
    x0: int
    y0: int
    side: int

    @classmethod
    def around(cls, box: FaceBox, width: int, height: int) -> Crop:
        side = round(min(max(box.size * CROP_FACE_RATIO, MIN_CROP), width, height))
        cx, cy = box.centre
        x0 = round(min(max(cx - side / 2, 0), width - side))
        y0 = round(min(max(cy - side / 2, 0), height - side))
        return cls(x0, y0, side)

    def needs_recentre(self, box: FaceBox, width: int, height: int) -> bool:
        wanted = Crop.around(box, width, height)
        moved = max(abs(wanted.x0 - self.x0), abs(wanted.y0 - self.y0)) > RECENTRE_SHIFT * self.side
        rescaled = abs(wanted.side - self.side) > RECENTRE_SCALE * self.side
        return moved or rescaled


class MeshTracker:
    """Face-mesh landmarks (478 x [x, y, z] in frame pixels) of one face, frame after frame."""

    def __init__(self, min_confidence: float = 0.5) -> None:
        import mediapipe as mp

        with quiet_native_stderr():
            self._mesh = mp.solutions.face_mesh.FaceMesh(
                static_image_mode=True,
                refine_landmarks=True,
                max_num_faces=1,
                min_detection_confidence=min_confidence,
                min_tracking_confidence=min_confidence,
            )
            self._mesh.process(_BLANK)  # start the graph's threads (they log) while fd 2 is quiet
        self.crop: Crop | None = None
        self._quiet_frames = 2  # the first face seen makes the graph log once more

    def close(self) -> None:
        self._mesh.close()

    def start(self, box: FaceBox, width: int, height: int) -> None:
        """Follow the face in ``box`` from now on."""
        self.crop = Crop.around(box, width, height)

    def process(self, frame: np.ndarray) -> np.ndarray | None:
        """Landmarks of the followed face in this frame, or None if it is not visible."""
        if self.crop is None:
            raise RuntimeError("MeshTracker.start() must be called with the face to follow")
        c = self.crop
        view = np.ascontiguousarray(frame[c.y0 : c.y0 + c.side, c.x0 : c.x0 + c.side])
        if self._quiet_frames > 0:
            with quiet_native_stderr():
                result = self._mesh.process(view)
            self._quiet_frames -= result.multi_face_landmarks is not None
        else:
            result = self._mesh.process(view)
        if not result.multi_face_landmarks:
            return None
        points = result.multi_face_landmarks[0].landmark
        lm = np.array([(p.x, p.y, p.z) for p in points], dtype=np.float32) * c.side
        if len(lm) != N_LANDMARKS:
            return None
        lm[:, 0] += c.x0
        lm[:, 1] += c.y0
        height, width = frame.shape[:2]
        box = FaceBox.around(lm)
        if c.needs_recentre(box, width, height):
            self.crop = Crop.around(box, width, height)
        return lm
