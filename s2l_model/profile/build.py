"""``profile build``: video → tracks → canonical geometry → training set → model → held-out check → .prof.

Stages report through ``on_stage(name, done, total)``; training also reports losses through ``on_train``.
The work folder keeps the prepared video, the training set and the training checkpoint, so ``resume``
continues an interrupted build where it stopped (the same video and settings are required).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2l_model import __version__
from s2l_model.dataset.trainset import TrainingSet, build_training_set, load_training_set
from s2l_model.device import choose_device
from s2l_model.engine.config import Preset, load_preset
from s2l_model.engine.trainer import CHECKPOINT, ProgressFn, Trainer, TrainResult
from s2l_model.errors import InputError
from s2l_model.evaluate.compare import EvaluateConfig, Evaluation
from s2l_model.evaluate.heldout import evaluate_heldout, heldout_range
from s2l_model.media import probe_video
from s2l_model.media.atomic import check_output_path, write_json
from s2l_model.prepare.pipeline import frames_at, prepare_video
from s2l_model.profile.container import ProfileContents, write_profile
from s2l_model.profile.speaker import FOOTAGE, KIND, SpeakerProfile, from_contents
from s2l_model.render.renderer import ProfileRenderer
from s2l_model.tracking.store import read_rows

StageFn = Callable[[str, int, int], None]
MIN_TRAIN_SECONDS = 30.0  # what a build must leave for training at the least
EVAL_FRAMES_PER_SECOND = 3.0  # a conservative CPU rate for the held-out check, to plan the budget


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


def can_resume(workdir: Path) -> bool:
    """Whether an interrupted build in ``workdir`` got far enough for ``--resume`` (its training set)."""
    return (workdir / "build.json").is_file() and (workdir / "trainset" / "trainset.json").is_file()


def _fingerprint(video: Path, preset: Preset, test_split: float, face: int | None) -> dict[str, Any]:
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


def evaluation_metrics(evaluation: Evaluation) -> dict[str, Any]:
    e = evaluation
    out: dict[str, Any] = {"frames": e.n_frames}
    for column in (
        "psnr_mouth",
        "psnr_frame",
        "ssim_mouth",
        "ssim_frame",
        "stlpips_mouth",
        "cpbd_mouth",
        "lmd_px",
        "lmd_iod",
    ):
        value = e.mean(column)
        out[column] = round(value, 5) if np.isfinite(value) else None
    for key, score in e.sync.items():
        out[f"sync/{key}"] = round(score.score, 5) if np.isfinite(score.score) else None
        out[f"sync_offset/{key}"] = score.offset
    return out


def profile_contents(
    data: TrainingSet, trainer: Trainer, result: TrainResult, video: Path, options: BuildOptions, device: str
) -> ProfileContents:
    """Everything the profile keeps, gathered from the training set and the trained model."""
    landmarks = read_rows(data.folder.parent / "prep" / "landmarks.npy", 0, data.n_frames).astype(np.float16)
    # The head model and the canonical pose let other footage of the speaker be posed in this profile's
    # canonical space (``s2l dub --video``); its own head model would live in another space.
    with np.load(data.folder.parent / "prep" / "poses.npz", allow_pickle=False) as poses:
        head_model, head_stable = poses["head_model"], poses["stable"]
    _, canonical_frame = next(frames_at(video, [data.canonical_frame]))
    preset = trainer.preset
    manifest = {
        "kind": KIND,
        "source": {"name": video.name, "bytes": video.stat().st_size},
        "fps": f"{data.fps.numerator}/{data.fps.denominator}",
        "width": data.width,
        "height": data.height,
        "frames": data.n_frames,
        "canonical_frame": data.canonical_frame,
        "split": {
            "test_split": options.test_split,
            "train_frames": [0, data.heldout.start],
            "heldout_frames": [data.heldout.start, data.heldout.stop],
            "trained_on": len(data.train_frames),
        },
        "preset": preset.to_dict(),
        "model": preset.model.to_dict(),
        "layout": trainer.layout.to_dict(),
        "training": {
            "device": device,
            "seed": options.seed,
            "steps": result.steps_done,
            "sync_expert_steps": result.expert_steps_done,
            "seconds": result.seconds,
            "stopped_by": result.stopped_by,
            "blend_net": preset.train.blend_net,
            "heldout_lip_psnr": result.heldout_lip_psnr,
            "expert_heldout_accuracy": result.expert_accuracy,
            "final_losses": result.final_losses,
        },
        "footage": FOOTAGE + video.suffix.lower(),
        "metrics": {},
    }
    state = {k: v.detach().cpu().contiguous() for k, v in trainer.model.state_dict().items()}
    return ProfileContents(
        manifest=manifest,
        weights={"model": state},
        arrays={
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
        },
        images={"canonical": canonical_frame},
        files={FOOTAGE + video.suffix.lower(): video},
    )


def build_profile(
    video: Path,
    output: Path,
    options: BuildOptions,
    *,
    on_stage: StageFn | None = None,
    on_train: ProgressFn | None = None,
) -> BuildResult:
    started = time.monotonic()
    deadline = None if options.budget_minutes is None else started + 60 * options.budget_minutes
    check_output_path(output)
    if not 0 < options.test_split < 0.5:
        raise InputError(f"--test-split must be between 0 and 0.5, got {options.test_split}")
    preset = load_preset(options.preset)
    dev = choose_device(options.device)
    if options.threads:
        torch.set_num_threads(options.threads)
    info = probe_video(video)
    assert info.video is not None
    if not info.audio:
        raise InputError(f"{video.name} has no audio track: s2l learns the lips from the speech in the video")
    workdir = options.workdir or default_workdir(output)
    workdir.mkdir(parents=True, exist_ok=True)
    stage_seconds: dict[str, float] = {}
    notes: list[str] = []
    fingerprint = _fingerprint(video, preset, options.test_split, options.face)
    build_json = workdir / "build.json"
    resumable = options.resume and can_resume(workdir) and json.loads(build_json.read_text()) == fingerprint
    if options.resume and not resumable:
        if not build_json.is_file():
            raise InputError(
                f"--resume: no interrupted build in {workdir} (run without --resume to start one)"
            )
        raise InputError(f"--resume: the build in {workdir} was for another video or other settings")

    if resumable:
        data = load_training_set(workdir / "trainset")
        notes.append(f"resumed from {workdir}")
    else:
        (workdir / CHECKPOINT).unlink(missing_ok=True)
        build_json.unlink(missing_ok=True)
        t0 = time.monotonic()
        prepared = prepare_video(
            video,
            workdir / "prep",
            face_number=options.face,
            canonical_before=1 - options.test_split,
            on_stage=on_stage,
        )
        stage_seconds["prepare"] = time.monotonic() - t0
        t0 = time.monotonic()
        heldout = heldout_range(prepared.tracks.n_frames, options.test_split)
        progress = None if on_stage is None else (lambda d, t: on_stage("training set", d, t))
        data = build_training_set(
            prepared,
            workdir / "trainset",
            heldout,
            sync_frames=preset.model.sync_frames,
            on_progress=progress,
        )
        stage_seconds["training set"] = time.monotonic() - t0
        write_json(build_json, fingerprint)

    trainer = Trainer(data, preset, dev, workdir, seed=options.seed)
    if resumable and (workdir / CHECKPOINT).is_file():
        trainer.load_checkpoint(workdir / CHECKPOINT)
    # Training gets the preset's budget, less what the held-out check and writing need under --budget.
    reserve = (len(data.heldout) / EVAL_FRAMES_PER_SECOND + 20.0) if options.evaluate else 20.0
    train_deadline = time.monotonic() + max(0.0, 60 * preset.train.budget_minutes - trainer.elapsed)
    if deadline is not None:
        left = deadline - time.monotonic() - reserve
        if left < MIN_TRAIN_SECONDS:
            raise InputError(
                f"--budget {options.budget_minutes:g} min leaves {max(0.0, left):.0f} s for training; "
                f"allow at least {(time.monotonic() - started + reserve + MIN_TRAIN_SECONDS) / 60:.1f} min"
            )
        train_deadline = min(train_deadline, deadline - reserve)
    t0 = time.monotonic()
    result = trainer.train(train_deadline, on_train)
    stage_seconds["training"] = time.monotonic() - t0

    contents = profile_contents(data, trainer, result, video, options, str(dev))
    metrics: dict[str, Any] = {}
    if options.evaluate:
        t0 = time.monotonic()
        profile = from_contents(output, contents, dev)
        metrics = heldout_metrics(profile, video, data.heldout, workdir, on_stage, device=str(dev))
        contents.manifest["metrics"] = metrics
        stage_seconds["held-out check"] = time.monotonic() - t0
    t0 = time.monotonic()
    if on_stage is not None:
        on_stage("writing profile", 0, 1)
    write_profile(output, contents)
    if on_stage is not None:
        on_stage("writing profile", 1, 1)
    stage_seconds["writing"] = time.monotonic() - t0
    footage_bytes = video.stat().st_size
    if options.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    return BuildResult(
        output=output,
        seconds=time.monotonic() - started,
        stage_seconds={k: round(v, 1) for k, v in stage_seconds.items()},
        train=result,
        metrics=metrics,
        profile_bytes=os.path.getsize(output),
        footage_bytes=footage_bytes,
        device=str(dev),
        workdir=workdir,
        notes=notes,
    )


def heldout_metrics(
    profile: SpeakerProfile,
    video: Path,
    heldout: range,
    workdir: Path,
    on_stage: StageFn | None,
    *,
    device: str = "cpu",
    config: EvaluateConfig | None = None,
) -> dict[str, Any]:
    """The paper's metrics of the profile on its held-out frames (rendered with their own speech), plus the
    profile's sync expert on the prediction and on the truth."""
    config = config or EvaluateConfig(device=device, frame_lpips_samples=16)
    renderer = ProfileRenderer(profile, video, device=device)
    with tempfile.TemporaryDirectory(prefix="heldout-", dir=workdir) as tmp:
        evaluation = evaluate_heldout(video, heldout, renderer, Path(tmp), config=config, on_stage=on_stage)
        add_expert_scores(evaluation, profile, heldout)
    return evaluation_metrics(evaluation)


def add_expert_scores(evaluation: Evaluation, profile: SpeakerProfile, frames: range) -> None:
    """Score the evaluation's prediction and truth videos with the profile's sync expert."""
    from s2l_model.evaluate.expert import LABEL, canonical_mouths, expert_sync
    from s2l_model.media import iter_frames, load_speech

    for role, path in (("prediction", evaluation.prediction), ("truth", evaluation.reference)):
        if path is None:
            continue
        mouths = canonical_mouths(profile, zip(frames, iter_frames(path), strict=False))
        evaluation.sync[f"{role}/{LABEL}"] = expert_sync(
            profile, mouths, load_speech(path), f"{role}/{LABEL}"
        )
