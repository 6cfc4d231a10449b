"""Prepared video → training set.

Per frame (all arrays are indexed by frame number; unusable frames hold zeros and are never sampled):
    lips      (N, h, w, 3) uint8   the canonical lip box, O2C-warped from the frame at full resolution
    lip_valid (N, h, w)    bool    lip pixels whose observed position lies inside the frame
    crops     (N, ch, cw, 3) uint8 the observed frame around the lower face (Blend-Net region + margin)
    origins   (N, 2) int32         the crop's top-left corner (x, y) in the frame
    speech    (N, 16, 80) float32  the lip field's log-mel window, centred on the frame
    sync_speech (N, T, 80) float32 the sync expert's log-mel window (``sync_frames`` frames long)
    mouth                          the mouth stage's set: true mouth codes, speech features (``mouthset``)
Plus the canonical geometry of the region the model works in (``patch``: the canonical image and depth
around the lower face), the relative poses, and the train / held-out split: the held-out frames (the last
10 % by default, as in the paper) are never read for training.

Big arrays are ``.npy`` memory maps in ``WORKDIR/trainset``, so a five-minute HD video does not need to
fit in memory; ``trainset.json`` is written last and marks a complete set (``--resume`` reuses it).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2l_model.dataset.mouthset import MouthSet, build_mouth_set, load_mouth_set, mouth_points_of
from s2l_model.errors import InputError
from s2l_model.features.frames import FeatureConfig
from s2l_model.features.speech import MelConfig, speech_windows
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.crop import (
    IMAGE_SAMPLING,
    Rect,
    canonical_to_observed,
    crop_layout,
    inside_rect,
    pixel_centres,
    sample_image,
)
from s2l_model.geometry.mouth import MouthBox, soft_mask
from s2l_model.geometry.pose import Pose, relative_poses
from s2l_model.media import iter_frames, load_speech
from s2l_model.media.atomic import write_json
from s2l_model.prepare.pipeline import Prepared
from s2l_model.prepare.workfolder import TrainsetFolder
from s2l_model.progress import CountFn as ProgressFn

FORMAT_VERSION = 4  # 2: the mouth set (issue 16); 3: with the training speech's activity; 4: bicubic lips
BLEND_SIDE = 0.3  # Blend-Net region: the lip box grown by this many box widths left and right,
BLEND_TOP = 0.25  # … box heights upwards,
BLEND_BOTTOM = 0.6  # … and box heights downwards (the chin moves with the jaw)
PATCH_MARGIN = 0.25  # canonical working patch: the blend box plus this much of its larger side
MEL_HOP_S = 0.01


def _grow(box: Rect, left: float, right: float, top: float, bottom: float, width: int, height: int) -> Rect:
    x0 = max(0, int(np.floor(box.x0 - left)))
    y0 = max(0, int(np.floor(box.y0 - top)))
    x1 = min(width, int(np.ceil(box.x0 + box.width + right)))
    y1 = min(height, int(np.ceil(box.y0 + box.height + bottom)))
    return Rect(x0, y0, x1 - x0, y1 - y0)


def sync_mel_config(fps: Fraction, frames: int) -> MelConfig:
    """Log-mel window as long as ``frames`` video frames (at least 8 mel frames)."""
    return MelConfig(window_frames=max(8, round(frames / float(fps) / MEL_HOP_S)))


def blend_mask(lip_box: MouthBox, blend_box: Rect, size: tuple[int, int]) -> np.ndarray:
    """Soft canonical mask of the Blend-Net region (its feather like the lip box's)."""
    grown = MouthBox(blend_box.x0, blend_box.y0, blend_box.width, blend_box.height, lip_box.mouth_width)
    return soft_mask(grown, size)


@dataclass
class TrainingSet:
    folder: Path
    fps: Fraction
    width: int
    height: int
    camera: PinholeCamera
    canonical_frame: int
    canonical_pose: Pose
    rotations: np.ndarray  # (N, 3, 3) float32, relative: canonical camera → observed camera
    translations: np.ndarray  # (N, 3) float32
    usable: np.ndarray  # (N,) bool
    mouth_open: np.ndarray  # (N,) float32
    train_frames: np.ndarray  # (K,) int64
    heldout: range
    lip_box: Rect
    mouth_width: float
    blend_box: Rect
    patch: Rect
    canonical_patch: np.ndarray  # (ph, pw, 3) uint8
    depth_patch: np.ndarray  # (ph, pw) float32
    lip_mask_patch: np.ndarray  # (ph, pw) float32, soft
    blend_mask_patch: np.ndarray  # (ph, pw) float32, soft
    crop_size: tuple[int, int]  # (width, height)
    lips: np.ndarray
    lip_valid: np.ndarray
    crops: np.ndarray
    origins: np.ndarray
    speech: np.ndarray
    sync_speech: np.ndarray
    mouth: MouthSet | None = None  # None: a speech-driven lip field's set

    @property
    def n_frames(self) -> int:
        return len(self.usable)

    def seconds(self, frames: np.ndarray) -> np.ndarray:
        return np.asarray(frames, dtype=np.float64) * self.fps.denominator / self.fps.numerator

    def crop_rect(self, frame: int) -> Rect:
        x, y = (int(v) for v in self.origins[frame])
        return Rect(x, y, self.crop_size[0], self.crop_size[1])


def build_training_set(
    prepared: Prepared,
    folder: Path,
    heldout: range,
    *,
    sync_frames: int = 5,
    mouth_components: int = 0,
    features: FeatureConfig | None = None,
    augment: bool = True,
    on_progress: ProgressFn | None = None,
    on_mouth_progress: ProgressFn | None = None,
) -> TrainingSet:
    """Cut ``prepared`` into the training set in ``folder`` (created). ``heldout`` frames are never used.
    With ``mouth_components`` and ``features`` it also holds the mouth stage's set (``mouthset``), its
    speech augmented unless ``augment`` is off."""
    folder.mkdir(parents=True, exist_ok=True)
    files = TrainsetFolder(folder)
    files.meta.unlink(missing_ok=True)
    tracks = prepared.tracks
    n, width, height = tracks.n_frames, prepared.width, prepared.height
    camera = prepared.geometry.camera
    speech = load_speech(prepared.video, info=prepared.info)
    mel = speech_windows(speech, prepared.fps, n)
    sync_mel = speech_windows(speech, prepared.fps, n, sync_mel_config(prepared.fps, sync_frames))
    # NaN on the frames without a pose (``Tracks``), which are never used.
    rotations, translations = (
        a.astype(np.float32)
        for a in relative_poses(prepared.geometry.canonical_pose, tracks.rotations, tracks.translations)
    )
    usable = tracks.usable.copy()
    train = np.flatnonzero(usable & (np.arange(n) < heldout.start))
    least = 2 * sync_frames + 20
    if len(train) < least:
        raise InputError(
            f"{prepared.video.name}: only {len(train)} usable training frames; s2l needs at least {least} "
            f"(about {least / float(prepared.fps):.0f} s with the face visible)"
        )

    box = prepared.box
    lip_box = Rect(box.x0, box.y0, box.width, box.height)
    blend_box = _grow(
        lip_box,
        BLEND_SIDE * box.width,
        BLEND_SIDE * box.width,
        BLEND_TOP * box.height,
        BLEND_BOTTOM * box.height,
        width,
        height,
    )
    margin = PATCH_MARGIN * max(blend_box.width, blend_box.height)
    patch = _grow(blend_box, margin, margin, margin, margin, width, height)
    depth_full = prepared.geometry.canonical_depth
    size = (height, width)
    lip_mask = prepared.mouth_mask
    bmask = blend_mask(box, blend_box, size)
    crops_at = crop_layout(
        blend_box, depth_full, (0, 0), camera, rotations, translations, usable, (width, height)
    )
    crop_size, origins = crops_at.crop_size, crops_at.origins

    def memmap(path: Path, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        return np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)

    lips = memmap(files.lips, (n, box.height, box.width, 3), np.uint8)
    lip_valid = memmap(files.lip_valid, (n, box.height, box.width), np.bool_)
    crops = memmap(files.crops, (n, crop_size[1], crop_size[0], 3), np.uint8)
    lip_pixels = pixel_centres(lip_box, box.width, box.height)[None]  # (1, h, w, 2)
    lip_depth = torch.from_numpy(depth_full[lip_box.slices].astype(np.float32))[None]
    frame_rect = Rect(0, 0, width, height)
    for f, frame in enumerate(iter_frames(prepared.video, info=prepared.info, max_frames=n)):
        if on_progress is not None:
            on_progress(f + 1, n)
        if not usable[f]:
            continue
        x, y = origins[f]
        crops[f] = frame[y : y + crop_size[1], x : x + crop_size[0]]
        obs, _ = canonical_to_observed(
            lip_pixels.reshape(1, -1, 2),
            lip_depth.reshape(1, -1),
            camera,
            torch.from_numpy(rotations[f : f + 1]),
            torch.from_numpy(translations[f : f + 1]),
        )
        image = torch.from_numpy(frame).permute(2, 0, 1)[None].float()
        sampled = sample_image(image, obs, frame_rect, mode=IMAGE_SAMPLING)[0]  # (3, P)
        lips[f] = sampled.T.reshape(box.height, box.width, 3).round().clamp(0, 255).byte().numpy()
        lip_valid[f] = inside_rect(obs[0], frame_rect).reshape(box.height, box.width).numpy()
    for array in (lips, lip_valid, crops):
        array.flush()

    np.save(files.speech, mel)
    np.save(files.sync_speech, sync_mel)
    if mouth_components and features is not None:
        head = tracks.model
        points = mouth_points_of(prepared.landmarks, n, camera, head.points, head.stable)
        points[~usable] = np.nan
        build_mouth_set(
            files,
            speech,
            prepared.fps,
            points,
            train,
            prepared.canonical.frame,
            mouth_components,
            features,
            augment=augment,
            on_progress=on_mouth_progress,
        )
    np.savez(
        files.geometry,
        rotations=rotations,
        translations=translations,
        usable=usable,
        origins=origins,
        mouth_open=tracks.mouth_open.astype(np.float32),
        train_frames=train,
        canonical_patch=prepared.canonical_image[patch.slices],
        depth_patch=depth_full[patch.slices],
        lip_mask_patch=lip_mask[patch.slices],
        blend_mask_patch=bmask[patch.slices],
        canonical_rotation=prepared.geometry.canonical_pose.rotation,
        canonical_translation=prepared.geometry.canonical_pose.translation,
    )
    meta = {
        "format_version": FORMAT_VERSION,
        "video": str(prepared.video),
        "fps": f"{prepared.fps.numerator}/{prepared.fps.denominator}",
        "width": width,
        "height": height,
        "frames": n,
        "camera": {"focal": camera.focal, "cx": camera.cx, "cy": camera.cy},
        "canonical_frame": prepared.canonical.frame,
        "heldout": [heldout.start, heldout.stop],
        "lip_box": lip_box.to_dict(),
        "mouth_width": box.mouth_width,
        "blend_box": blend_box.to_dict(),
        "patch": patch.to_dict(),
        "crop_size": list(crop_size),
        "sync_frames": sync_frames,
        "mouth_components": mouth_components,
        "features": None if features is None else dataclasses.asdict(features),
        "augment": augment,
    }
    write_json(files.meta, meta)
    return load_training_set(folder)


def load_training_set(folder: Path) -> TrainingSet:
    files = TrainsetFolder(folder)
    if not files.is_complete():
        raise InputError(f"{folder} holds no complete training set")
    meta = json.loads(files.meta.read_text())
    if meta.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{folder} holds a training set of an older s2l; build it again")
    geo = np.load(files.geometry, allow_pickle=False)
    num, den = (int(v) for v in meta["fps"].split("/"))
    cam = meta["camera"]
    return TrainingSet(
        folder=folder,
        fps=Fraction(num, den),
        width=meta["width"],
        height=meta["height"],
        camera=PinholeCamera(focal=cam["focal"], cx=cam["cx"], cy=cam["cy"]),
        canonical_frame=meta["canonical_frame"],
        canonical_pose=Pose(geo["canonical_rotation"], geo["canonical_translation"]),
        rotations=geo["rotations"],
        translations=geo["translations"],
        usable=geo["usable"],
        mouth_open=geo["mouth_open"],
        train_frames=geo["train_frames"],
        heldout=range(*meta["heldout"]),
        lip_box=Rect(**meta["lip_box"]),
        mouth_width=meta["mouth_width"],
        blend_box=Rect(**meta["blend_box"]),
        patch=Rect(**meta["patch"]),
        canonical_patch=geo["canonical_patch"],
        depth_patch=geo["depth_patch"],
        lip_mask_patch=geo["lip_mask_patch"],
        blend_mask_patch=geo["blend_mask_patch"],
        crop_size=(meta["crop_size"][0], meta["crop_size"][1]),
        lips=np.load(files.lips, mmap_mode="r"),
        lip_valid=np.load(files.lip_valid, mmap_mode="r"),
        crops=np.load(files.crops, mmap_mode="r"),
        origins=geo["origins"],
        speech=np.load(files.speech),
        sync_speech=np.load(files.sync_speech),
        mouth=load_mouth_set(files),
    )
