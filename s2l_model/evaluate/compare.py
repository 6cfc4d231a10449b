"""Evaluate a video: against its truth (full-reference metrics) or on its own (sharpness and sync).

One streaming pass over the frames of both videos computes every per-frame figure; the face mesh runs in
a pass of its own per video first (its landmarks define the mouth region and give LMD and the mouth
opening for sync). Memory stays flat in the video length except for the optional SyncNet face crops.
"""

from __future__ import annotations

import heapq
import itertools
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch

from s2l_model.errors import InputError, NoFaceError
from s2l_model.geometry.topology import N_LANDMARKS
from s2l_model.media import Speech, iter_frames, load_speech, probe_video
from s2l_model.media.probe import MediaInfo, check_input_file
from s2l_model.metrics.cpbd import cpbd
from s2l_model.metrics.image import psnr, ssim
from s2l_model.metrics.landmarks import (
    MouthRegions,
    found_mask,
    lmd,
    mouth_regions,
    square_mouth_regions,
)
from s2l_model.metrics.phones import lip_targets, recognise_phones
from s2l_model.metrics.stlpips import Backbone, stlpips_distance
from s2l_model.metrics.sync import SyncScore, envelope_sync, phone_sync, speech_envelope
from s2l_model.metrics.syncnet import FACE_SIZE, LseResult, load_syncnet, lse_scores
from s2l_model.progress import CountFn, StageFn
from s2l_model.tracking.mesh import FaceBox
from s2l_model.tracking.refine import mouth_opening
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video

BATCH = 16  # frames per metric batch
CPBD_MIN_SIDE = 128  # two CPBD blocks each way, so the mouth CPBD averages over more than one block
CPU_FRAME_LPIPS_SAMPLES = 32  # whole-frame ST-LPIPS costs ~0.5 s per 512^2 frame on a CPU core pair
SYNCNET_FACE_SCALE = 1.3  # crop side / landmark box side: the whole face with a margin, as SyncNet saw it


@dataclass(frozen=True)
class EvaluateConfig:
    lpips_backbone: Backbone = "alex"
    # whole-frame ST-LPIPS on this many evenly spaced frames; 0 = all; None = all on a GPU, else 32
    frame_lpips_samples: int | None = None
    worst_frames: int = 6
    phones: bool = True  # English phone-class sync (pocketsphinx en-us)
    syncnet: Path | None = None  # public SyncNet weights for LSE-C / LSE-D
    device: str = "cpu"
    max_frames: int | None = None


@dataclass
class WorstFrame:
    index: int
    value: float  # the figure that ranked it (mouth PSNR, or mouth CPBD without a reference)
    prediction: np.ndarray  # RGB crop around the mouth region
    truth: np.ndarray | None


@dataclass
class Evaluation:
    mode: str  # "reference" (prediction vs truth) or "no-reference"
    prediction: Path
    reference: Path | None
    speech: str  # where the speech for sync came from
    fps: float
    width: int
    height: int
    region: str  # the mouth region's definition, for reports
    columns: dict[str, np.ndarray]  # per-frame figures, NaN where undefined
    sync: dict[str, SyncScore] = field(default_factory=dict)  # "prediction/envelope", "truth/phones", ...
    lse: dict[str, LseResult] = field(default_factory=dict)  # "prediction", "truth"
    worst: list[WorstFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    lpips_backbone: str = "alex"
    #: the square mouth box's definition (``psnr_mouth_square``/``ssim_mouth_square``; reference mode only)
    region_square: str | None = None

    @property
    def n_frames(self) -> int:
        return len(self.columns["frame"])

    def mean(self, column: str) -> float:
        values = self.columns.get(column)
        if values is None or not np.isfinite(values).any():
            return float("nan")
        return float(np.nanmean(values))

    def count(self, column: str) -> int:
        values = self.columns.get(column)
        return 0 if values is None else int(np.isfinite(values).sum())


def _landmarks(video: Path, workdir: Path, n_frames: int, on_progress: CountFn | None):
    """(n, 478, 3) raw face-mesh landmarks, NaN where no face (all NaN when the video has none)."""
    try:
        track = track_video(video, workdir, max_frames=n_frames, on_progress=on_progress)
    except NoFaceError:
        return np.full((n_frames, N_LANDMARKS, 3), np.nan, np.float32), False
    rows = read_rows(track.landmarks_path, 0, n_frames)
    if len(rows) < n_frames:  # the decoder gave fewer frames than the container announced
        rows = np.concatenate([rows, np.full((n_frames - len(rows), N_LANDMARKS, 3), np.nan, np.float32)])
    return rows, True


def _speech_for(
    speech: Path | None, prediction: MediaInfo, reference: MediaInfo | None
) -> tuple[Speech | None, str]:
    if speech is not None:
        return load_speech(check_input_file(speech)), str(speech)
    for info, role in ((prediction, "prediction"), (reference, "truth")):
        if info is not None and info.has_audio:
            return load_speech(info.path), f"the {role}'s own audio track ({info.path.name})"
    return None, "none (no audio track and no --speech)"


def _context_crop(frame: np.ndarray, regions: MouthRegions, index: int) -> np.ndarray:
    """The mouth region with as much context again around it, for the worst-frame pictures."""
    return regions.crop_around(frame, index, 2 * regions.width, 2 * regions.height).copy()


def _cpbd_crop(frame: np.ndarray, regions: MouthRegions, index: int) -> np.ndarray:
    """The mouth region grown to at least CPBD_MIN_SIDE a side: CPBD scores whole 64-px blocks only."""
    width, height = max(regions.width, CPBD_MIN_SIDE), max(regions.height, CPBD_MIN_SIDE)
    return regions.crop_around(frame, index, width, height)


def _face_crop(frame: np.ndarray, landmarks: np.ndarray) -> np.ndarray:
    """A FACE_SIZE square face crop for SyncNet (black outside the frame; grey without a face)."""
    if np.isnan(landmarks[:, :2]).any():
        return np.full((FACE_SIZE, FACE_SIZE, 3), 128, np.uint8)
    box = FaceBox.around(landmarks)
    cx, cy = box.centre
    half = SYNCNET_FACE_SCALE * box.size / 2
    src = np.float32([[cx - half, cy - half], [cx + half, cy - half], [cx - half, cy + half]])
    dst = np.float32([[0, 0], [FACE_SIZE, 0], [0, FACE_SIZE]])
    return cv2.warpAffine(
        frame, cv2.getAffineTransform(src, dst), (FACE_SIZE, FACE_SIZE), flags=cv2.INTER_AREA
    )


def evaluate_videos(
    prediction: Path,
    reference: Path | None = None,
    *,
    speech: Path | None = None,
    config: EvaluateConfig | None = None,
    on_stage: StageFn | None = None,
) -> Evaluation:
    """All metrics for ``prediction`` (and against ``reference`` when given). See ``Evaluation``."""
    config = config or EvaluateConfig()
    pred_info = probe_video(check_input_file(prediction))
    ref_info = probe_video(check_input_file(reference)) if reference is not None else None
    assert pred_info.video is not None
    pv = pred_info.video
    notes: list[str] = []
    n = pv.n_frames
    if ref_info is not None:
        rv = ref_info.video
        assert rv is not None
        if abs(float(pv.fps) - float(rv.fps)) > 1e-3:
            raise InputError(
                f"frame rates differ: prediction {float(pv.fps):g} fps, truth {float(rv.fps):g} fps"
            )
        if (pv.width, pv.height) != (rv.width, rv.height):
            raise InputError(
                f"frame sizes differ: prediction {pv.width}x{pv.height}, truth {rv.width}x{rv.height} "
                "(compare videos of the same size)"
            )
        if rv.n_frames != pv.n_frames:
            notes.append(
                f"frame counts differ (prediction {pv.n_frames}, truth {rv.n_frames}): "
                f"the first {min(pv.n_frames, rv.n_frames)} frames are compared"
            )
        n = min(n, rv.n_frames)
    if config.max_frames is not None:
        n = min(n, config.max_frames)
    if n < 1:
        raise InputError(f"{prediction.name} has no frames to evaluate")
    fps = float(pv.fps)

    def progress(stage: str) -> CountFn | None:
        return None if on_stage is None else (lambda done, total: on_stage(stage, done, total))

    with tempfile.TemporaryDirectory(prefix="s2l-eval-") as tmp:
        (Path(tmp) / "p").mkdir()
        pred_lm, pred_face = _landmarks(prediction, Path(tmp) / "p", n, progress("tracking prediction"))
        ref_lm = None
        if reference is not None:
            (Path(tmp) / "r").mkdir()
            ref_lm, ref_face = _landmarks(reference, Path(tmp) / "r", n, progress("tracking truth"))
            if not ref_face:
                raise InputError(f"no face found in the truth video {reference.name}: no mouth region")
    if not pred_face:
        if reference is None:
            raise InputError(f"no face found in {prediction.name}")
        notes.append("no face found in the prediction: LMD and its sync are undefined")
    regions = mouth_regions(ref_lm if ref_lm is not None else pred_lm, pv.width, pv.height)
    square = square_mouth_regions(ref_lm, pv.width, pv.height) if ref_lm is not None else None

    landmarks = {"prediction": pred_lm} if ref_lm is None else {"prediction": pred_lm, "truth": ref_lm}
    measured = _frame_pass(
        prediction, pred_info, reference, ref_info, n, regions, landmarks, config, progress, square
    )
    columns = {"frame": np.arange(n, dtype=np.float64), "time_s": np.arange(n) / fps, **measured.columns}
    columns["opening"] = mouth_opening(pred_lm).astype(np.float64)
    if ref_lm is not None:
        columns["lmd_px"], columns["lmd_iod"] = lmd(pred_lm, ref_lm)
        columns["opening_truth"] = mouth_opening(ref_lm).astype(np.float64)
    frames_with_face = int(found_mask(pred_lm).sum())
    if pred_face and frames_with_face < n:
        notes.append(
            f"no face in {n - frames_with_face} of {n} prediction frames (excluded from LMD and sync)"
        )

    spoken, speech_source = _speech_for(speech, pred_info, ref_info)
    evaluation = Evaluation(
        mode="reference" if reference is not None else "no-reference",
        prediction=prediction,
        reference=reference,
        speech=speech_source,
        fps=fps,
        width=pv.width,
        height=pv.height,
        region=regions.describe(),
        columns=columns,
        worst=measured.worst,
        notes=notes,
        lpips_backbone=config.lpips_backbone,
        region_square=None if square is None else square.describe(),
    )
    if spoken is None:
        notes.append("sync not measured: no speech (the videos have no audio track; pass --speech)")
        return evaluation
    _sync(evaluation, spoken, config, on_stage)
    if config.syncnet is not None:
        _syncnet(evaluation, measured.faces, spoken, config, on_stage)
    return evaluation


def _sync(evaluation: Evaluation, speech: Speech, config: EvaluateConfig, on_stage: StageFn | None) -> None:
    fps, n = evaluation.fps, evaluation.n_frames
    roles = [("prediction", evaluation.columns["opening"])]
    if "opening_truth" in evaluation.columns:
        roles.append(("truth", evaluation.columns["opening_truth"]))
    if on_stage:
        on_stage("sync", 0, 1)
    if speech.duration * fps < n - 1:
        evaluation.notes.append(
            f"the speech ({speech.duration:.2f} s) is shorter than the video ({n / fps:.2f} s): "
            "sync uses the frames it covers"
        )
    # Only the speech under the evaluated frames matters (offsets compare frames inside the video), so a
    # long track under a --max-frames run is not decoded into phones to the end.
    speech = Speech(speech.samples[: round((n + 1) / fps * speech.sample_rate)], speech.sample_rate)
    targets = lip_targets(recognise_phones(speech), fps, n) if config.phones else None
    evaluation.columns["speech_db"] = speech_envelope(speech, fps, n)
    for role, opening in roles:
        evaluation.sync[f"{role}/envelope"] = envelope_sync(opening, speech, fps)
        if targets is not None:
            evaluation.sync[f"{role}/phones"] = phone_sync(opening, speech, fps, targets=targets)
    if on_stage:
        on_stage("sync", 1, 1)


def _syncnet(
    evaluation: Evaluation,
    faces: dict[str, list[np.ndarray]],
    speech: Speech,
    config: EvaluateConfig,
    on_stage: StageFn | None,
) -> None:
    assert config.syncnet is not None
    net = load_syncnet(config.syncnet).to(config.device)
    for done, (role, crops) in enumerate(faces.items()):
        if on_stage:
            on_stage("SyncNet", done, len(faces))
        evaluation.lse[role] = lse_scores(
            net, np.stack(crops), speech.samples, speech.sample_rate, evaluation.fps, device=config.device
        )
    if on_stage:
        on_stage("SyncNet", len(faces), len(faces))


@dataclass
class _FramePass:
    columns: dict[str, np.ndarray]
    worst: list[WorstFrame]
    faces: dict[str, list[np.ndarray]]  # SyncNet face crops per role (empty without --syncnet)


@dataclass
class _Batch:
    """A batch of frames of both videos: ``index`` (B,) frame numbers, frames (H, W, 3) uint8."""

    index: np.ndarray
    prediction: list[np.ndarray]
    truth: list[np.ndarray] | None


class _Sharpness:
    """CPBD of the mouth region and the whole frame, of the prediction (and of the truth, for reference)."""

    def __init__(self, n: int, regions: MouthRegions, with_truth: bool) -> None:
        self.regions = regions
        roles = ["", "_truth"] if with_truth else [""]
        self.columns = {
            f"cpbd_{part}{role}": np.full(n, np.nan) for role in roles for part in ("mouth", "frame")
        }

    def add(self, batch: _Batch) -> None:
        for role, frames in (("", batch.prediction), ("_truth", batch.truth)):
            if f"cpbd_mouth{role}" not in self.columns or frames is None:
                continue
            for frame, i in zip(frames, batch.index, strict=True):
                self.columns[f"cpbd_mouth{role}"][i] = cpbd(_cpbd_crop(frame, self.regions, i))
                self.columns[f"cpbd_frame{role}"][i] = cpbd(frame)


class _FullReference:
    """PSNR, SSIM and ST-LPIPS of the mouth region and the frame against the truth (whole-frame ST-LPIPS on
    ``lpips_frames`` only: it is the costly one on a CPU), and PSNR and SSIM of the square mouth box."""

    def __init__(
        self, n: int, regions: MouthRegions, config: EvaluateConfig, square: MouthRegions | None = None
    ) -> None:
        self.regions, self.config, self.square = regions, config, square
        self.device = torch.device(config.device)
        names = ("psnr_mouth", "psnr_frame", "ssim_mouth", "ssim_frame", "stlpips_mouth", "stlpips_frame")
        if square is not None:
            names += ("psnr_mouth_square", "ssim_mouth_square")
        self.columns = {name: np.full(n, np.nan) for name in names}
        samples = config.frame_lpips_samples
        if samples is None:
            samples = 0 if config.device.startswith("cuda") else CPU_FRAME_LPIPS_SAMPLES
        every = n if samples <= 0 else samples
        self.lpips_frames = set(np.unique(np.linspace(0, n - 1, min(n, every)).round().astype(int)).tolist())

    def add(self, batch: _Batch) -> None:
        assert batch.truth is not None
        idx, cols, backbone = batch.index, self.columns, self.config.lpips_backbone
        mouths_p = np.stack([self.regions.crop(f, i) for f, i in zip(batch.prediction, idx, strict=True)])
        mouths_r = np.stack([self.regions.crop(f, i) for f, i in zip(batch.truth, idx, strict=True)])
        full_p, full_r = np.stack(batch.prediction), np.stack(batch.truth)
        cols["psnr_mouth"][idx] = psnr(mouths_p, mouths_r)
        cols["psnr_frame"][idx] = psnr(full_p, full_r)
        cols["ssim_mouth"][idx] = ssim(mouths_p, mouths_r)
        cols["ssim_frame"][idx] = ssim(full_p, full_r)
        if self.square is not None:
            sq = self.square
            squares_p = np.stack([sq.crop(f, i) for f, i in zip(batch.prediction, idx, strict=True)])
            squares_r = np.stack([sq.crop(f, i) for f, i in zip(batch.truth, idx, strict=True)])
            cols["psnr_mouth_square"][idx] = psnr(squares_p, squares_r)
            cols["ssim_mouth_square"][idx] = ssim(squares_p, squares_r)
        tp, tr = torch.from_numpy(mouths_p).to(self.device), torch.from_numpy(mouths_r).to(self.device)
        cols["stlpips_mouth"][idx] = stlpips_distance(tp, tr, backbone=backbone).cpu().numpy()
        chosen = [k for k, i in enumerate(idx) if int(i) in self.lpips_frames]
        if chosen:
            fp = torch.from_numpy(full_p[chosen]).to(self.device)
            fr = torch.from_numpy(full_r[chosen]).to(self.device)
            dist = stlpips_distance(fp, fr, backbone=backbone, batch=1).cpu().numpy()
            cols["stlpips_frame"][idx[chosen]] = dist


class _WorstFrames:
    """The ``keep`` frames with the lowest ``rank`` figure so far, with their mouth crops for the report."""

    def __init__(self, keep: int, regions: MouthRegions) -> None:
        self.keep, self.regions = keep, regions
        # (-figure, index, crops): a heap whose root is the best of the worst
        self.heap: list[tuple[float, int, np.ndarray, np.ndarray | None]] = []

    def add(self, batch: _Batch, rank: np.ndarray) -> None:
        for k, i in enumerate(batch.index):
            if not np.isfinite(rank[i]):
                continue
            key = (-float(rank[i]), int(i))
            if len(self.heap) == self.keep and (not self.heap or key[0] <= self.heap[0][0]):
                continue  # not among the worst (or no pictures wanted): crop nothing
            truth = None if batch.truth is None else _context_crop(batch.truth[k], self.regions, i)
            entry = (*key, _context_crop(batch.prediction[k], self.regions, i), truth)
            if len(self.heap) < self.keep:
                heapq.heappush(self.heap, entry)
            else:
                heapq.heapreplace(self.heap, entry)

    def pictures(self) -> list[WorstFrame]:
        ordered = sorted(self.heap, key=lambda e: (-e[0], e[1]))  # lowest figure first
        return [WorstFrame(index=i, value=-neg, prediction=p, truth=t) for neg, i, p, t in ordered]


class _FaceCrops:
    """The aligned face crops SyncNet reads, per role, collected only when it is asked for."""

    def __init__(self, landmarks: dict[str, np.ndarray], wanted: bool) -> None:
        self.landmarks = landmarks
        self.faces: dict[str, list[np.ndarray]] = {role: [] for role in landmarks} if wanted else {}

    def add(self, batch: _Batch) -> None:
        for role, frames in (("prediction", batch.prediction), ("truth", batch.truth)):
            if role in self.faces and frames is not None:
                marks = self.landmarks[role]
                self.faces[role] += [
                    _face_crop(f, marks[i]) for f, i in zip(frames, batch.index, strict=True)
                ]


def _batches(
    prediction: Path, pred_info: MediaInfo, reference: Path | None, ref_info: MediaInfo | None, n: int
) -> Iterator[_Batch]:
    """Both videos decoded once, ``BATCH`` frames at a time; stops early if a decoder delivers fewer frames
    than announced (the rest of the columns stay NaN)."""
    pred_frames = iter_frames(prediction, info=pred_info, max_frames=n)
    if reference is None:
        pairs: Iterator[tuple[np.ndarray, np.ndarray | None]] = ((frame, None) for frame in pred_frames)
    else:
        pairs = zip(pred_frames, iter_frames(reference, info=ref_info, max_frames=n), strict=False)
    done = 0
    while batch := list(itertools.islice(pairs, BATCH)):
        truth = None if reference is None else [r for _, r in batch]
        yield _Batch(np.arange(done, done + len(batch)), [p for p, _ in batch], truth)  # type: ignore[misc]
        done += len(batch)


def _frame_pass(
    prediction: Path,
    pred_info: MediaInfo,
    reference: Path | None,
    ref_info: MediaInfo | None,
    n: int,
    regions: MouthRegions,
    landmarks: dict[str, np.ndarray],
    config: EvaluateConfig,
    progress: Callable[[str], CountFn | None],
    square: MouthRegions | None = None,
) -> _FramePass:
    """Every per-frame image figure in one decode of each video: each batch goes through running tallies.
    ``square``: the square mouth box of the reference, also measured (PSNR, SSIM) when given."""
    has_ref = reference is not None
    sharpness = _Sharpness(n, regions, with_truth=has_ref)
    full_reference = _FullReference(n, regions, config, square) if has_ref else None
    worst = _WorstFrames(config.worst_frames, regions)
    faces = _FaceCrops(landmarks, wanted=config.syncnet is not None)
    update = progress("comparing frames" if has_ref else "measuring frames")
    for batch in _batches(prediction, pred_info, reference, ref_info, n):
        sharpness.add(batch)
        faces.add(batch)
        if full_reference is not None:
            full_reference.add(batch)
        rank = full_reference.columns["psnr_mouth"] if full_reference else sharpness.columns["cpbd_mouth"]
        worst.add(batch, rank)
        if update:
            update(int(batch.index[-1]) + 1, n)
    # the columns in the order the report has always listed them: the prediction's, then the truth's CPBD
    columns = dict(sharpness.columns)
    truth_cpbd = {k: columns.pop(k) for k in list(columns) if k.endswith("_truth")}
    columns.update({**(full_reference.columns if full_reference else {}), **truth_cpbd})
    return _FramePass(columns, worst.pictures(), faces.faces)
