"""The training loop (paper Sec. 4.4): two stages, checkpoints, a wall-clock budget, resumption, Ctrl-C.

Stage 1 trains the sync expert on the speaker's own training frames. Stage 2 trains everything else
jointly with the expert frozen; the sync term joins after ``sync_start`` of the schedule, as the released
code switches it on late. The learning rate follows a cosine from ``learning_rate`` to
``final_learning_rate`` over the schedule's *progress*, the larger of steps done / steps and time spent /
time allowed, so a run cut short by its budget still ends at a low learning rate.

The loop only schedules: ``dataset.batches`` hands out the batches, ``models.losses`` turns them into loss
terms (Eq. 6-10) and weighs them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from s2l_model.dataset.batches import MouthBatches, TrainingBatches
from s2l_model.dataset.trainset import TrainingSet
from s2l_model.engine.config import Preset, TrainConfig
from s2l_model.features.frames import bilabial_channels
from s2l_model.features.phonemes import STEP_RATE
from s2l_model.fields.detail import bank_size, exemplar_frames
from s2l_model.fields.lip import code_kernels, fit_appearance
from s2l_model.geometry.mouthcode import code_opening
from s2l_model.models.losses import LossOptions, SpeakerLosses, expert_accuracy, lip_psnr
from s2l_model.models.mouth import CodeCalibration, fit_calibration
from s2l_model.models.speaker import SceneLayout, SpeakerModel, scaled_size
from s2l_model.prepare.workfolder import WorkFolder


@dataclass
class Progress:
    stage: str  # "sync expert" or "training"
    step: int
    steps: int
    losses: dict[str, float]
    heldout_psnr: float | None
    elapsed_s: float


ProgressFn = Callable[[Progress], None]


#: The largest share of the remaining training time the sync expert (stage 1) may take.
EXPERT_TIME_SHARE = 0.3
#: … and the mouth stage (it is small, and the lip field needs the time more).
MOUTH_TIME_SHARE = 0.25


@dataclass
class TrainResult:
    steps_done: int
    expert_steps_done: int
    seconds: float
    stopped_by: str  # "steps" or "budget"
    final_losses: dict[str, float]
    heldout_lip_psnr: float | None
    expert_accuracy: float | None
    history: list[dict[str, float]] = field(default_factory=list)
    mouth_steps_done: int = 0
    mouth_check: dict[str, float] = field(default_factory=dict)  # the mouth stage on its calibration slice


def _coded_frames(data: TrainingSet) -> np.ndarray:
    """The training frames with a finite mouth code (none without a mouth set)."""
    if data.mouth is None:
        return np.zeros(0, np.int64)
    return data.train_frames[np.isfinite(data.mouth.codes[data.train_frames]).all(axis=1)]


def layout_of(data: TrainingSet, preset: Preset) -> SceneLayout:
    cfg = preset.model
    exemplars = 0
    if cfg.drive == "mouth":
        box = data.lip_box
        exemplars = bank_size(cfg.lip_detail_exemplars, box.width, box.height, len(_coded_frames(data)))
    return SceneLayout(
        width=data.width,
        height=data.height,
        camera=data.camera,
        lip_box=data.lip_box,
        blend_box=data.blend_box,
        patch=data.patch,
        crop_size=data.crop_size,
        lip_train_size=scaled_size(data.lip_box, cfg.lip_width),
        sync_size=scaled_size(data.lip_box, cfg.sync_width),
        sync_mel_frames=data.sync_speech.shape[1],
        n_mels=data.speech.shape[2],
        detail_exemplars=exemplars,
    )


def build_model(data: TrainingSet, preset: Preset) -> SpeakerModel:
    model = SpeakerModel(
        preset.model,
        layout_of(data, preset),
        data.canonical_patch,
        data.depth_patch,
        data.lip_mask_patch,
        data.blend_mask_patch,
        learn_depth=preset.train.learn_depth,
        use_blend=preset.train.blend_net,
    )
    mel = data.speech[data.train_frames]  # (K, 16, n_mels)
    model.set_mel_statistics(mel.mean(axis=(0, 1)), mel.std(axis=(0, 1)))
    if model.mouth is not None:
        if data.mouth is None:
            raise ValueError("a mouth-driven model needs a training set with its mouth set")
        model.mouth.set_basis(data.mouth.basis, data.mouth.rest)
        model.mouth.bilabial.copy_(torch.from_numpy(bilabial_channels(preset.model.speech_features())))
        field = model.field
        frames = _coded_frames(data)
        codes = data.mouth.codes[frames]
        if model.detail is not None:  # render-only: real detail of exemplar frames, by code
            picked = frames[exemplar_frames(codes, model.detail.codes.shape[0])]
            model.detail.fill(data.mouth.codes[picked], data.lips[picked], data.lip_valid[picked])
        if field.appearance is not None and field.config.appearance_kernels > 0:
            centres, width = code_kernels(codes, field.config.appearance_kernels)
            field.set_kernels(torch.from_numpy(centres), width)
        if field.appearance is not None and field.base is not None and preset.train.appearance_init:
            with torch.no_grad():
                features = field.appearance_features(torch.from_numpy(codes)).numpy()
                rest = field.appearance_features(torch.from_numpy(data.mouth.rest[None]))[0].numpy()
            basis, base = fit_appearance(
                features,
                _Rows(data.lips, frames),
                _Rows(data.lip_valid, frames),
                rest,
                field.base.detach()[0].numpy(),
            )
            with torch.no_grad():
                field.appearance.copy_(torch.from_numpy(basis).reshape(field.appearance.shape))
                field.base.copy_(torch.from_numpy(base)[None])
    return model


class _Rows:
    """``array[frames[lo:hi]]`` on demand: the rows of a memory-mapped array, read a slice at a time."""

    def __init__(self, array: np.ndarray, frames: np.ndarray) -> None:
        self.array, self.frames = array, frames

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, rows: slice) -> np.ndarray:
        return np.asarray(self.array[self.frames[rows]])


def _loss_options(train: TrainConfig) -> LossOptions:
    """The ``[train]`` settings that shape the loss terms."""
    return LossOptions(
        continuous_sampling=train.continuous_sampling,
        learn_depth=train.learn_depth,
        sync_loss=train.sync_loss,
        sync_start=train.sync_start,
        hole_probability=train.hole_probability,
        hole_ratio=train.hole_ratio,
        perceptual_every=train.perceptual_every,
        perceptual_max_side=train.perceptual_max_side,
        code_noise=train.code_noise,
    )


def _report(terms: dict[str, torch.Tensor]) -> dict[str, float]:
    return {k: float(v.detach()) for k, v in terms.items()}


class Trainer:
    """Both stages for one training set: ``train`` runs (or continues, after ``load_checkpoint``) them."""

    def __init__(
        self, data: TrainingSet, preset: Preset, device: torch.device, workdir: Path, seed: int = 0
    ) -> None:
        self.preset, self.device, self.workdir = preset, device, workdir
        self.tcfg = preset.train
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)  # every sampled frame; checkpointed
        generator = torch.Generator(device=device).manual_seed(seed)  # the losses' random parts
        self.model = build_model(data, preset).to(device)
        self.layout = self.model.layout
        self.batches = TrainingBatches(
            data,
            self.layout.lip_train_size,
            self.layout.sync_size,
            preset.model.sync_frames,
            self.tcfg.motion_weight,
            device,
        )
        self.losses = SpeakerLosses(self.model, self.tcfg.loss, _loss_options(self.tcfg), generator, device)
        # the sync expert and the speech → mouth network train in their own stages
        named = [
            (name, p)
            for name, p in self.model.named_parameters()
            if p.requires_grad and not name.startswith(("expert.", "mouth."))
        ]
        # The base image and appearance basis of a mouth-driven field start from a least-squares fit: they
        # need fine-tuning, not relearning. At the full rate Adam moves every one of their pixels by about
        # the learning rate each step, whatever its gradient, and undid 2 dB of the fit within 30 steps.
        fitted = set()
        if self.model.field.appearance is not None and self.tcfg.appearance_init:
            fitted = {"field.base", "field.appearance"}
        groups: list[dict[str, Any]] = [{"params": [p for name, p in named if name not in fitted]}]
        if fitted:
            groups.append(
                {
                    "params": [p for name, p in named if name in fitted],
                    "lr_scale": self.tcfg.fitted_learning_rate_scale,
                }
            )
        self.optimizer = torch.optim.Adam(groups, lr=self.tcfg.learning_rate)
        self.expert_optimizer = torch.optim.Adam(self.model.expert.parameters(), lr=1e-3)
        self.mouth_batches: MouthBatches | None = None
        self.mouth_optimizer: torch.optim.Optimizer | None = None
        if self.model.mouth is not None and data.mouth is not None:
            # a trained window must not hear a calibration frame's speech: half a window either side
            half_window_s = preset.model.speech_features().window_steps / STEP_RATE / 2
            self.mouth_batches = MouthBatches(
                data.mouth,
                data.train_frames,
                self.tcfg.mouth_sequence,
                device,
                fps=float(data.fps),
                margin=math.ceil(half_window_s * float(data.fps)),
            )
            self.mouth_optimizer = torch.optim.Adam(
                self.model.mouth.predictor.parameters(), lr=self.tcfg.mouth_learning_rate
            )
        self.step = 0
        self.mouth_step = 0
        self.mouth_check: dict[str, float] = {}
        self.expert_step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []

    def _descend(self, optimizer: torch.optim.Optimizer, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """One optimiser step on the weighted sum of ``terms``; the sum."""
        total = self.losses.total(terms)
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        return total

    # -- stage 1: the sync expert --------------------------------------------------------------------------
    def train_expert(self, deadline: float, on_progress: ProgressFn | None) -> None:
        """Stage 1 until its steps are done or ``deadline`` passes."""
        self.model.expert.train()
        steps = self.tcfg.sync_expert_steps
        started = time.monotonic() - self.elapsed
        while self.expert_step < steps and time.monotonic() < deadline:
            terms = self.losses.expert_terms(self.batches.sync_windows(self.rng, self.tcfg.sync_expert_batch))
            self._descend(self.expert_optimizer, terms)
            self.expert_step += 1
            self.elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(
                    Progress("sync expert", self.expert_step, steps, _report(terms), None, self.elapsed)
                )

    # -- the mouth stage: speech → mouth code ----------------------------------------------------------------
    def train_mouth(self, deadline: float, on_progress: ProgressFn | None) -> None:
        """The speech → mouth-code network until its steps are done or ``deadline`` passes, then its
        calibration on the slice it never trained on."""
        stage, batches, optimizer = self.model.mouth, self.mouth_batches, self.mouth_optimizer
        assert stage is not None and batches is not None and optimizer is not None
        t = self.tcfg
        stage.predictor.train()
        started = time.monotonic()
        while self.mouth_step < t.mouth_steps and time.monotonic() < deadline:
            progress = self.mouth_step / max(1, t.mouth_steps)
            for group in optimizer.param_groups:
                group["lr"] = t.mouth_learning_rate * 0.5 * (1 + math.cos(math.pi * progress))
            terms = self.losses.mouth_stage_terms(batches.sequences(self.rng, t.mouth_batch))
            total = self._descend(optimizer, terms)
            self.mouth_step += 1
            if on_progress is not None:
                losses = {**_report(terms), "total": float(total.detach())}
                elapsed = time.monotonic() - started
                on_progress(Progress("mouth code", self.mouth_step, t.mouth_steps, losses, None, elapsed))
        self.calibrate_mouth()

    @torch.no_grad()
    def calibrate_mouth(self) -> CodeCalibration | None:
        """Fit (or, with ``mouth_calibrate`` off, reset) the codes' affine calibration on the calibration
        slice, on the codes as ``dub`` drives them (gated by the speech activity, closed on bilabials), and
        record how those follow the truth there."""
        stage, batches = self.model.mouth, self.mouth_batches
        assert stage is not None and batches is not None
        stage.eval()
        features, truth, activity = batches.calibration_set()
        if not len(truth):
            return None
        stage.set_calibration(np.ones(stage.gain.shape), np.zeros(stage.bias.shape))
        raw = stage.predictor(features).cpu().numpy()
        weight = torch.from_numpy(activity).to(features.device)
        drive = stage.drive_weight(features, weight).cpu().numpy()
        basis, rest = stage.basis(), stage.rest.cpu().numpy()
        calibration = fit_calibration(raw, truth, rest, lambda codes: code_opening(basis, codes), drive)
        if self.tcfg.mouth_calibrate:
            stage.set_calibration(calibration.gain, calibration.bias)
        predicted = stage.speak(features, weight, 1.0).cpu().numpy()
        self.mouth_check = {**mouth_agreement(basis, predicted, truth), "gain": float(calibration.gain[0])}
        return calibration

    # -- stage 2: everything else --------------------------------------------------------------------------
    def _lr(self, progress: float) -> float:
        lo, hi = self.tcfg.final_learning_rate, self.tcfg.learning_rate
        return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * min(1.0, progress)))

    def train_step(self, progress: float) -> dict[str, float]:
        """One stage-2 step at ``progress`` of the schedule; the loss terms and their weighted total."""
        t = self.tcfg
        # the lip loss sees more frames (cheap) than the composition path (the crops and Blend-Net are not)
        batch = self.batches.lip_batch(self.rng, t.lip_batch_frames, t.batch_frames)
        windows = (
            self.batches.sync_windows(self.rng, t.sync_batch)
            if self.losses.wants_sync_windows(progress)
            else None
        )
        # Mixed precision on a GPU: bfloat16 for the networks; the geometry stays float32 (in the losses).
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            terms = self.losses.joint_terms(batch, windows, self.step)
        total = self._descend(self.optimizer, terms)
        return {**_report(terms), "total": float(total.detach())}

    def heldout_psnr(self) -> float | None:
        """Lip PSNR (canonical lip box, training resolution) on a fixed sample of held-out frames."""
        probe = self.batches.lip_probe()
        return None if probe is None else lip_psnr(self.model, probe)

    def train(self, deadline: float, on_progress: ProgressFn | None = None) -> TrainResult:
        """Run (or continue) both stages until the steps are done or ``deadline`` (time.monotonic) passes.
        KeyboardInterrupt saves a checkpoint before it propagates."""
        t = self.tcfg
        try:
            # the expert is trained even without the sync loss: it is also the profile's sync scorer
            if self.expert_step < t.sync_expert_steps:
                # At most a share of the time left: on a slow or busy machine the expert's steps must not
                # eat the budget the lip field needs (it once ended a build with 0 lip-field steps).
                now = time.monotonic()
                self.train_expert(now + EXPERT_TIME_SHARE * max(0.0, deadline - now), on_progress)
            if self.model.mouth is not None and self.mouth_step < t.mouth_steps:
                now = time.monotonic()
                self.train_mouth(now + MOUTH_TIME_SHARE * max(0.0, deadline - now), on_progress)
            self.model.train()
            self.model.freeze_expert()
            started = time.monotonic() - self.elapsed
            budget = max(1.0, deadline - time.monotonic())
            start_elapsed = self.elapsed
            last_save = last_probe = time.monotonic()
            psnr = self.heldout_psnr()
            losses: dict[str, float] = {}
            while self.step < t.steps and time.monotonic() < deadline:
                progress = max(self.step / t.steps, (self.elapsed - start_elapsed) / budget)
                for group in self.optimizer.param_groups:
                    group["lr"] = self._lr(progress) * group.get("lr_scale", 1.0)
                losses = self.train_step(progress)
                self.step += 1
                self.elapsed = time.monotonic() - started
                now = time.monotonic()
                if now - last_probe > t.heldout_every_seconds:
                    psnr, last_probe = self.heldout_psnr(), now
                    self.history.append(
                        {
                            "step": self.step,
                            "seconds": round(self.elapsed, 1),
                            "heldout_lip_psnr": psnr or 0,
                            **losses,
                        }
                    )
                if now - last_save > t.checkpoint_seconds:
                    self.save_checkpoint()
                    last_save = now
                if on_progress is not None:
                    on_progress(Progress("training", self.step, t.steps, losses, psnr, self.elapsed))
        except KeyboardInterrupt:
            self.save_checkpoint()
            raise
        self.save_checkpoint()
        self.model.eval()
        psnr = self.heldout_psnr()
        expert_probe = self.batches.expert_probe()
        accuracy = None if expert_probe is None else expert_accuracy(self.model.expert, expert_probe)
        return TrainResult(
            steps_done=self.step,
            expert_steps_done=self.expert_step,
            seconds=round(self.elapsed, 1),
            stopped_by="steps" if self.step >= t.steps else "budget",
            final_losses=losses,
            heldout_lip_psnr=psnr,
            expert_accuracy=accuracy,
            history=self.history,
            mouth_steps_done=self.mouth_step,
            mouth_check=self.mouth_check,
        )

    # -- checkpoints ---------------------------------------------------------------------------------------
    def save_checkpoint(self) -> Path:
        """Model, optimisers and counters; torch.save of tensors and plain values only (read back with
        weights_only=True). Written atomically."""
        from s2l_model.media.atomic import atomic_output

        path = WorkFolder(self.workdir).checkpoint
        state: dict[str, Any] = {
            "preset": self.preset.to_dict(),
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "expert_optimizer": self.expert_optimizer.state_dict(),
            "mouth_optimizer": None if self.mouth_optimizer is None else self.mouth_optimizer.state_dict(),
            "mouth_step": self.mouth_step,
            "mouth_check": self.mouth_check,
            "step": self.step,
            "expert_step": self.expert_step,
            "elapsed": self.elapsed,
            "rng": self.rng.bit_generator.state["state"]["state"],
            "history": self.history,
        }
        with atomic_output(path) as tmp:
            torch.save(state, tmp)
        return path

    def load_checkpoint(self, path: Path) -> None:
        from s2l_model.errors import InputError

        try:
            state = torch.load(path, map_location=self.device, weights_only=True)
        except Exception as exc:  # a damaged checkpoint is bad input to --resume, not a crash
            raise InputError(
                f"cannot resume: {path} is not a readable checkpoint ({exc.__class__.__name__})"
            ) from None
        if state.get("preset") != self.preset.to_dict():
            raise InputError(f"cannot resume: {path} was made with other preset settings")
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.expert_optimizer.load_state_dict(state["expert_optimizer"])
        if self.mouth_optimizer is not None and state.get("mouth_optimizer") is not None:
            self.mouth_optimizer.load_state_dict(state["mouth_optimizer"])
        self.mouth_step = int(state.get("mouth_step", 0))
        self.mouth_check = dict(state.get("mouth_check", {}))
        self.step, self.expert_step, self.elapsed = state["step"], state["expert_step"], state["elapsed"]
        self.history = list(state["history"])
        self.rng = np.random.default_rng(int(state["rng"]) + self.step)


def mouth_agreement(basis, predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """How (M, K) predicted codes follow the true ones: the correlation and the std ratio of the decoded
    mouth opening, and the first component's correlation."""
    p_open, t_open = code_opening(basis, predicted), code_opening(basis, truth)
    return {
        "frames": float(len(truth)),
        "opening_r": _corr(p_open, t_open),
        "opening_std_ratio": float(p_open.std() / max(t_open.std(), 1e-9)),
        "code0_r": _corr(predicted[:, 0], truth[:, 0]),
    }


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    if a.std() < 1e-12 or b.std() < 1e-12:
        return 0.0
    return float(np.corrcoef(a, b)[0, 1])
