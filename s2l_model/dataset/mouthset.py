"""The mouth stage's training data: every frame's true mouth code, and the training speech's features.

Per frame: the lip and jaw landmarks in head space (``geometry.mouthcode.head_space_points``), the
speaker's mouth basis fitted on the *training* frames only, and each frame's code in it. The resting code
is the canonical frame's (chosen mouth-closed), which is what silence renders.

Speech: speaker-independent feature windows (``features.frames``) of the training speech, and of a few
augmented copies of it (``features.augment``: other rates, pitches, vocal tracts, noise), so that other
voices fall inside what the predictor has seen. A copy that changes the timeline (a speed change) gets its
targets by interpolating the true codes at the matching original time; a frame of a copy is valid only
where both original frames around that time are usable training frames (held-out frames never enter).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from s2l_model.features.augment import augment_speech, default_augmentations
from s2l_model.features.frames import FeatureConfig, FrameFeatures
from s2l_model.features.speech import array_reader
from s2l_model.features.vad import silero_activity
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.mouthcode import MouthBasis, fit_mouth_basis, head_space_points
from s2l_model.media.audio import Speech
from s2l_model.prepare.workfolder import TrainsetFolder
from s2l_model.progress import CountFn

#: Frames of landmarks read at a time (the landmarks stay on disk).
BLOCK = 512


@dataclass
class SpeechCopy:
    """One copy of the training speech: its feature windows and each of its frames' target code."""

    features: np.ndarray  # (M, S, D) float16 feature windows, one per frame of the copy
    codes: np.ndarray  # (M, K) float32 target codes
    valid: np.ndarray  # (M,) bool: the target is known (both original frames are training frames)
    time_scale: float = 1.0  # the copy's time runs this many times the original's


@dataclass
class MouthSet:
    points: np.ndarray  # (N, P, 3) float32 head-space mouth points; NaN on unusable frames
    basis: MouthBasis
    codes: np.ndarray  # (N, K) float32; NaN on unusable frames
    rest: np.ndarray  # (K,) the canonical frame's code
    copies: list[SpeechCopy]  # copy 0: the training speech itself; then the augmented copies
    #: (N,) float32 the training speech's weight per frame, as ``s2l dub`` gates the mouth with it
    #: (``features.vad.silero_activity``): the calibration fits the amplitude of the codes as dub drives them
    activity: np.ndarray | None = None


def mouth_points_of(
    landmarks_of, n_frames: int, camera: PinholeCamera, model: np.ndarray, stable: np.ndarray
) -> np.ndarray:
    """(N, P, 3) head-space mouth points of every frame; ``landmarks_of(start, stop)`` reads (stop - start,
    478, 3) tracked landmarks, ``model``/``stable`` are the head model's points and stable indices."""
    out = []
    for lo in range(0, n_frames, BLOCK):
        hi = min(n_frames, lo + BLOCK)
        out.append(head_space_points(landmarks_of(lo, hi), camera, model, stable))
    return np.concatenate(out) if out else np.zeros((0, 0, 3), np.float32)


def _copy_targets(
    codes: np.ndarray, trainable: np.ndarray, n_out: int, time_scale: float
) -> tuple[np.ndarray, np.ndarray]:
    """Targets of a copy whose time runs ``time_scale`` × the original's: output frame k shows original
    time k / (fps · time_scale), i.e. original frame k / time_scale."""
    source = np.arange(n_out) / time_scale
    lo = np.floor(source).astype(np.int64)
    hi = lo + 1
    inside = hi < len(codes)
    lo_c, hi_c = np.clip(lo, 0, len(codes) - 1), np.clip(hi, 0, len(codes) - 1)
    valid = inside & trainable[lo_c] & trainable[hi_c]
    frac = (source - lo)[:, None]
    targets = (1 - frac) * np.nan_to_num(codes[lo_c]) + frac * np.nan_to_num(codes[hi_c])
    return targets.astype(np.float32), valid


def build_mouth_set(
    folder: TrainsetFolder,
    speech: Speech,
    fps: Fraction,
    points: np.ndarray,
    train_frames: np.ndarray,
    canonical_frame: int,
    components: int,
    features: FeatureConfig,
    *,
    augment: bool = True,
    seed: int = 0,
    on_progress: CountFn | None = None,
) -> MouthSet:
    """Fit the basis on ``train_frames``, code every frame, featurise the speech and its augmented copies,
    and save it all into ``folder``."""
    n = len(points)
    basis = fit_mouth_basis(points[train_frames], components)
    codes = np.full((n, basis.size), np.nan, np.float32)
    finite = np.isfinite(points).all(axis=(1, 2))
    codes[finite] = basis.encode(points[finite])
    rest = np.nan_to_num(codes[canonical_frame])
    trainable = np.zeros(n, bool)
    trainable[train_frames] = True

    plans = [("clean", 0.0)] + (list(default_augmentations(seed)) if augment else [])
    copies: list[SpeechCopy] = []
    for k, (kind, amount) in enumerate(plans):
        if on_progress is not None:
            on_progress(k, len(plans))
        if kind == "clean":
            samples, time_scale = speech.samples, 1.0
        else:
            augmented = augment_speech(speech.samples, speech.sample_rate, kind, amount)
            samples, time_scale = augmented.samples, float(augmented.time_scale)
        n_out = n if kind == "clean" else round(n * time_scale)
        extractor = FrameFeatures(array_reader(samples), len(samples), fps, features)
        windows = extractor.windows(range(n_out)).astype(np.float16)
        if kind == "clean":
            targets, valid = np.nan_to_num(codes), trainable.copy()
        else:
            targets, valid = _copy_targets(codes, trainable, n_out, time_scale)
        np.save(folder.mouth_features(k), windows)
        copies.append(SpeechCopy(windows, targets, valid, time_scale))
    activity = silero_activity(array_reader(speech.samples), n, fps, speech.sample_rate)
    if on_progress is not None:
        on_progress(len(plans), len(plans))
    np.savez(
        folder.mouth,
        points=points,
        basis_mean=basis.mean,
        basis_components=basis.components,
        basis_scale=basis.scale,
        codes=codes,
        rest=rest,
        activity=activity,
        **{f"copy{k}_codes": c.codes for k, c in enumerate(copies)},
        **{f"copy{k}_valid": c.valid for k, c in enumerate(copies)},
        time_scales=np.array([c.time_scale for c in copies], np.float64),
    )
    return MouthSet(points, basis, codes, rest, copies, activity)


def load_mouth_set(folder: TrainsetFolder) -> MouthSet | None:
    """The saved mouth set (None: the set predates it)."""
    if not folder.mouth.is_file():
        return None
    z = np.load(folder.mouth, allow_pickle=False)
    copies = []
    k = 0
    while f"copy{k}_codes" in z.files:
        copies.append(
            SpeechCopy(
                np.load(folder.mouth_features(k), mmap_mode="r"),
                z[f"copy{k}_codes"],
                z[f"copy{k}_valid"],
                float(z["time_scales"][k]),
            )
        )
        k += 1
    basis = MouthBasis(z["basis_mean"], z["basis_components"], z["basis_scale"])
    return MouthSet(z["points"], basis, z["codes"], z["rest"], copies, z["activity"])
