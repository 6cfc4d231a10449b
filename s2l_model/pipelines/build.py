"""``profile build``: video → tracks → canonical geometry → training set → model → held-out check → .prof.

Stages report through ``on_stage(name, done, total)``; training also reports losses through ``on_train``.
The work folder (``prepare.workfolder.WorkFolder``) keeps the prepared video, the training set and the
training checkpoint, so ``resume`` continues an interrupted build where it stopped (the same video and
settings are required).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from s2l_model import __version__
from s2l_model.dataset.split import heldout_range
from s2l_model.dataset.trainset import TrainingSet, build_training_set, load_training_set
from s2l_model.device import choose_device
from s2l_model.engine.config import Preset, load_preset
from s2l_model.engine.trainer import ProgressFn, Trainer, TrainResult
from s2l_model.errors import InputError, ProcessingError
from s2l_model.evaluate.compare import EvaluateConfig
from s2l_model.evaluate.heldout import evaluation_metrics
from s2l_model.media import MediaInfo, probe_video
from s2l_model.media.atomic import check_output_path, write_json
from s2l_model.pipelines.evaluate import evaluate_profile_heldout
from s2l_model.prepare.pipeline import prepare_video
from s2l_model.prepare.workfolder import WorkFolder
from s2l_model.profile.container import ProfileContents, write_profile
from s2l_model.profile.manifest import FOOTAGE, ProfileManifest, SourceRecord, SplitRecord, TrainingRecord
from s2l_model.profile.speaker import SpeakerProfile, frozen
from s2l_model.progress import StageFn
from s2l_model.tracking.store import read_rows

MIN_TRAIN_SECONDS = 30.0  # what a build must leave for training at the least
EVAL_FRAMES_PER_SECOND = 3.0  # a conservative CPU rate for the held-out check, to plan the budget
WRITE_RESERVE_SECONDS = 20.0  # what writing the profile needs at the most, to plan the budget


@dataclass(frozen=True)
class BuildOptions:
    preset: str = "fast"
    device: str = "auto"
    budget_minutes: float | None = None
    test_split: float = 0.1
    resume: bool = False
    workdir: Path | None = None
    seed: int = 0
    evaluate: bool = True
    threads: int | None = None
    face: int | None = None  # which face to learn, 1-based left to right on the first frame with faces


@dataclass
class BuildResult:
    output: Path
    seconds: float
    stage_seconds: dict[str, float]
    train: TrainResult
    metrics: dict[str, Any]
    profile_bytes: int
    footage_bytes: int
    device: str
    workdir: Path
    notes: list[str] = field(default_factory=list)


def default_workdir(output: Path) -> Path:
    return output.parent / f".{output.name}.work"


def _fingerprint(video: Path, preset: Preset, test_split: float, face: int | None) -> dict[str, Any]:
    """What ``--resume`` must find unchanged: the video (by size and time) and every setting."""
    stat = video.stat()
    return {
        "video": str(video.resolve()),
        "face": face,
        "bytes": stat.st_size,
        "mtime_ns": stat.st_mtime_ns,
        "test_split": test_split,
        "preset": preset.to_dict(),
        "s2l_version": __version__,
    }


def _probe_speaking_video(video: Path) -> MediaInfo:
    """The video's probe, the one of the whole build; it must have speech to learn the lips from."""
    info = probe_video(video)
    if not info.audio:
        raise InputError(f"{video.name} has no audio track: s2l learns the lips from the speech in the video")
    return info


def _resumable(work: WorkFolder, options: BuildOptions, fingerprint: dict[str, Any]) -> bool:
    """Whether to resume the build in ``work``; with ``--resume``, refuse what cannot be resumed."""
    if not options.resume:
        return False
    if work.can_resume() and json.loads(work.settings.read_text()) == fingerprint:
        return True
    if not work.settings.is_file():
        raise InputError(f"--resume: no interrupted build in {work.root} (run without --resume to start one)")
    raise InputError(f"--resume: the build in {work.root} was for another video or other settings")


def _new_training_set(
    video: Path,
    info: MediaInfo,
    work: WorkFolder,
    options: BuildOptions,
    preset: Preset,
    fingerprint: dict[str, Any],
    on_stage: StageFn | None,
    stage_seconds: dict[str, float],
) -> TrainingSet:
    """Prepare the video and cut its training set into ``work`` (replacing an earlier build's work)."""
    work.checkpoint.unlink(missing_ok=True)
    work.settings.unlink(missing_ok=True)
    t0 = time.monotonic()
    prepared = prepare_video(
        video,
        work.prep.root,
        face_number=options.face,
        canonical_before=1 - options.test_split,
        on_stage=on_stage,
        info=info,
    )
    stage_seconds["prepare"] = time.monotonic() - t0
    t0 = time.monotonic()
    heldout = heldout_range(prepared.tracks.n_frames, options.test_split)
    progress = None if on_stage is None else (lambda d, t: on_stage("training set", d, t))
    model = preset.model
    data = build_training_set(
        prepared,
        work.trainset.root,
        heldout,
        sync_frames=model.sync_frames,
        mouth_components=model.mouth_components if model.drive == "mouth" else 0,
        features=model.speech_features() if model.drive == "mouth" else None,
        augment=preset.train.mouth_augment,
        on_progress=progress,
        on_mouth_progress=None if on_stage is None else (lambda d, t: on_stage("speech features", d, t)),
    )
    stage_seconds["training set"] = time.monotonic() - t0
    write_json(work.settings, fingerprint)
    return data


def _train_deadline(options: BuildOptions, trainer: Trainer, heldout_frames: int, started: float) -> float:
    """When training must stop: the preset's budget (less what a resumed build trained already), cut
    under ``--budget`` to leave the held-out check and the writing their time."""
    reserve = WRITE_RESERVE_SECONDS
    if options.evaluate:
        reserve += heldout_frames / EVAL_FRAMES_PER_SECOND
    deadline = time.monotonic() + max(0.0, 60 * trainer.preset.train.budget_minutes - trainer.elapsed)
    if options.budget_minutes is None:
        return deadline
    build_deadline = started + 60 * options.budget_minutes
    left = build_deadline - time.monotonic() - reserve
    if left < MIN_TRAIN_SECONDS:
        raise InputError(
            f"--budget {options.budget_minutes:g} min leaves {max(0.0, left):.0f} s for training; "
            f"allow at least {(time.monotonic() - started + reserve + MIN_TRAIN_SECONDS) / 60:.1f} min"
        )
    return min(deadline, build_deadline - reserve)


def _manifest(
    data: TrainingSet, trainer: Trainer, result: TrainResult, video: Path, options: BuildOptions, device: str
) -> ProfileManifest:
    preset = trainer.preset
    return ProfileManifest(
        source=SourceRecord(name=video.name, bytes=video.stat().st_size),
        fps=data.fps,
        width=data.width,
        height=data.height,
        frames=data.n_frames,
        canonical_frame=data.canonical_frame,
        split=SplitRecord(
            test_split=options.test_split,
            train=range(0, data.heldout.start),
            heldout=data.heldout,
            trained_on=len(data.train_frames),
        ),
        preset=preset.to_dict(),
        model=preset.model.to_dict(),
        layout=trainer.layout.to_dict(),
        training=TrainingRecord(
            device=device,
            seed=options.seed,
            steps=result.steps_done,
            sync_expert_steps=result.expert_steps_done,
            seconds=result.seconds,
            stopped_by=result.stopped_by,
            blend_net=preset.train.blend_net,
            heldout_lip_psnr=result.heldout_lip_psnr,
            expert_heldout_accuracy=result.expert_accuracy,
            final_losses=result.final_losses,
            mouth_steps=result.mouth_steps_done,
            mouth_check=result.mouth_check,
        ),
        footage=FOOTAGE + video.suffix.lower(),
    )


def _read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a PNG the build wrote."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise ProcessingError(f"cannot read {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _profile_arrays(data: TrainingSet, work: WorkFolder) -> dict[str, np.ndarray]:
    """The per-frame tracks and head model the profile keeps, from the training set and the prepared video."""
    landmarks = read_rows(work.prep.landmarks, 0, data.n_frames).astype(np.float16)
    # The head model and the canonical pose let other footage of the speaker be posed in this profile's
    # canonical space (``s2l dub --video``); its own head model would live in another space.
    with np.load(work.prep.poses, allow_pickle=False) as poses:
        head_model, head_stable = poses["head_model"], poses["stable"]
    # the true mouth code of every frame: the renderer-alone check (held-out frames rendered from their
    # real codes) needs nothing but the profile
    codes = {} if data.mouth is None else {"mouth_codes": data.mouth.codes.astype(np.float32)}
    return {
        **codes,
        "rotations": data.rotations,
        "translations": data.translations,
        "usable": data.usable,
        "origins": data.origins,
        "mouth_open": data.mouth_open,
        "landmarks": landmarks,
        "head_model": head_model.astype(np.float32),
        "head_stable": head_stable.astype(np.int32),
        "canonical_rotation": data.canonical_pose.rotation.astype(np.float32),
        "canonical_translation": data.canonical_pose.translation.astype(np.float32),
    }


def build_profile(
    video: Path,
    output: Path,
    options: BuildOptions,
    *,
    on_stage: StageFn | None = None,
    on_train: ProgressFn | None = None,
) -> BuildResult:
    """Learn the speaker of ``video`` and write the profile to ``output``."""
    started = time.monotonic()
    check_output_path(output)
    if not 0 < options.test_split < 0.5:
        raise InputError(f"--test-split must be between 0 and 0.5, got {options.test_split}")
    preset = load_preset(options.preset)
    dev = choose_device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    info = _probe_speaking_video(video)
    work = WorkFolder(options.workdir or default_workdir(output))
    work.root.mkdir(parents=True, exist_ok=True)
    stage_seconds: dict[str, float] = {}
    notes: list[str] = []
    fingerprint = _fingerprint(video, preset, options.test_split, options.face)
    resumable = _resumable(work, options, fingerprint)
    if resumable:
        data = load_training_set(work.trainset.root)
        notes.append(f"resumed from {work.root}")
    else:
        data = _new_training_set(video, info, work, options, preset, fingerprint, on_stage, stage_seconds)

    trainer = Trainer(data, preset, dev, work.root, seed=options.seed)
    if resumable and work.checkpoint.is_file():
        trainer.load_checkpoint(work.checkpoint)
    train_deadline = _train_deadline(options, trainer, len(data.heldout), started)
    t0 = time.monotonic()
    result = trainer.train(train_deadline, on_train)
    stage_seconds["training"] = time.monotonic() - t0

    manifest = _manifest(data, trainer, result, video, options, str(dev))
    weights = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
    arrays = _profile_arrays(data, work)
    canonical_image = _read_rgb(work.prep.canonical_image)  # the frame prepare decoded, stored losslessly
    if options.evaluate:
        t0 = time.monotonic()
        # The trained model itself is measured: the profile is what it is, once written.
        profile = SpeakerProfile(
            path=output,
            manifest=manifest,
            model=frozen(trainer.model, dev),
            arrays=arrays,
            canonical_image=canonical_image,
        )
        config = EvaluateConfig(device=str(dev), frame_lpips_samples=16)
        evaluation = evaluate_profile_heldout(
            profile, video, config, on_stage=on_stage, scratch=work.root, info=info
        )
        manifest.metrics = evaluation_metrics(evaluation)
        stage_seconds["held-out check"] = time.monotonic() - t0
    t0 = time.monotonic()
    if on_stage is not None:
        on_stage("writing profile", 0, 1)
    contents = ProfileContents(
        manifest=manifest.to_dict(),
        weights={"model": weights},
        arrays=arrays,
        images={"canonical": canonical_image},
        files={manifest.footage: video},
    )
    write_profile(output, contents)
    if on_stage is not None:
        on_stage("writing profile", 1, 1)
    stage_seconds["writing"] = time.monotonic() - t0
    if options.workdir is None:
        shutil.rmtree(work.root, ignore_errors=True)
    return BuildResult(
        output=output,
        seconds=time.monotonic() - started,
        stage_seconds={k: round(v, 1) for k, v in stage_seconds.items()},
        train=result,
        metrics=manifest.metrics,
        profile_bytes=os.path.getsize(output),
        footage_bytes=manifest.source.bytes,
        device=str(dev),
        workdir=work.root,
        notes=notes,
    )
