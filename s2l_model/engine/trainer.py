"""The training loop (paper Eq. 6-10) with checkpoints, a wall-clock budget, resumption and Ctrl-C.

Stage 1 trains the sync expert on the speaker's own training frames. Stage 2 trains everything else
jointly; the sync loss (with the expert frozen) joins after ``sync_start`` of the schedule, as the released
code switches it on late. The learning rate follows a cosine from ``learning_rate`` to
``final_learning_rate`` over the schedule's *progress*, the larger of steps done / steps and time spent /
time allowed, so a run cut short by its budget still ends at a low learning rate.

Per step, for a batch of training frames:
    L_lip   = MSE(F rendered with continuous sampling, O2C lip target) + w·ST-LPIPS          (Eq. 7)
    L_face  = MSE(composed crop, observed crop) over the blend region + w·ST-LPIPS         (Eq. 8)
    L_depth = MSE(observed crop warped O2C through the learned depth, canonical image)     (Eq. 9)
              on the blend region outside the lip box (skin that moves only with the head)
    L_sync  = InfoNCE of generated mouth windows against their speech vs. other moments and shifts (Eq. 6)
    L = Σ w·L                                                                              (Eq. 10)
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from s2l_model.dataset.trainset import TrainingSet
from s2l_model.engine.config import Preset
from s2l_model.fields.lip import render_continuous
from s2l_model.geometry.crop import canonical_to_observed, inside_rect, sample_image
from s2l_model.metrics.stlpips import STLPIPS, load_stlpips
from s2l_model.models.speaker import SceneLayout, SpeakerModel, scaled_size
from s2l_model.models.sync import LUMA, SHIFTS, contrastive_loss, grey
from s2l_model.prepare.workfolder import WorkFolder

HELDOUT_PROBE_FRAMES = 16


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


def layout_of(data: TrainingSet, preset: Preset) -> SceneLayout:
    cfg = preset.model
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
    return model


def _resize_stack(images: np.ndarray, frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    out = np.zeros((len(images), size[1], size[0], *images.shape[3:]), images.dtype)
    for f in frames:
        out[f] = cv2.resize(np.asarray(images[f]), size, interpolation=cv2.INTER_AREA)
    return out


def _shrink(images: torch.Tensor, max_side: int) -> torch.Tensor:
    side = max(images.shape[-2:])
    if max_side <= 0 or side <= max_side:
        return images
    return F.interpolate(images, scale_factor=max_side / side, mode="area")


def _psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    mse = float(F.mse_loss(a.clamp(0, 1), b))
    return 10 * math.log10(1.0 / max(mse, 1e-10))


class Trainer:
    def __init__(
        self, data: TrainingSet, preset: Preset, device: torch.device, workdir: Path, seed: int = 0
    ) -> None:
        self.data, self.preset, self.device, self.workdir = data, preset, device, workdir
        self.cfg, self.tcfg = preset.model, preset.train
        torch.manual_seed(seed)
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator(device=device).manual_seed(seed)
        self.model = build_model(data, preset).to(device)
        self.layout = self.model.layout
        n = data.n_frames
        lw, lh = self.layout.lip_train_size
        # held-out frames are loaded only to *measure* (the PSNR probe), never to train
        probe = np.array([f for f in data.heldout if data.usable[f]], dtype=np.int64)
        self.probe = (
            probe[np.linspace(0, len(probe) - 1, min(HELDOUT_PROBE_FRAMES, len(probe))).astype(int)]
            if len(probe)
            else probe
        )
        keep = np.concatenate([data.train_frames, self.probe])
        self.lips = torch.from_numpy(_resize_stack(data.lips, keep, (lw, lh))).permute(0, 3, 1, 2)
        valid = _resize_stack(data.lip_valid.view(np.uint8), keep, (lw, lh))
        self.lip_valid = torch.from_numpy(valid > 0)[:, None]
        sw, sh = self.layout.sync_size
        mouths = np.zeros((n, sh, sw), np.float32)  # the sync expert's grey mouths of the training frames
        mouths[data.train_frames] = self._grey_mouths(data.train_frames)
        self.mouths = torch.from_numpy(mouths)
        self.speech = torch.from_numpy(data.speech)
        self.sync_speech = torch.from_numpy(data.sync_speech)
        self.seconds = torch.from_numpy(data.seconds(np.arange(n))).float()
        self.rotations = torch.from_numpy(np.nan_to_num(data.rotations))
        self.translations = torch.from_numpy(np.nan_to_num(data.translations))
        self.origins = torch.from_numpy(data.origins.astype(np.int64))
        # sync windows: centres whose whole window is usable training frames
        half = self.cfg.sync_frames // 2
        trainable = np.zeros(n, bool)
        trainable[data.train_frames] = True
        ok = np.array(
            [
                trainable[max(0, c - half) : c + half + 1].all() and c - half >= 0 and c + half < n
                for c in range(n)
            ]
        )
        self.window_centres = np.flatnonzero(ok)
        self.ring = self._depth_ring()
        self.motion_weight = self._motion_weight(preset.train.motion_weight)
        self.perceptual: STLPIPS | None = None
        if self.tcfg.loss.lip_perceptual > 0 or self.tcfg.loss.face_perceptual > 0:
            self.perceptual = load_stlpips("alex", str(device))
        params = [p for name, p in self.model.named_parameters() if not name.startswith("expert.")]
        self.optimizer = torch.optim.Adam([p for p in params if p.requires_grad], lr=self.tcfg.learning_rate)
        self.expert_optimizer = torch.optim.Adam(self.model.expert.parameters(), lr=1e-3)
        w = self.tcfg.loss
        self._weights = {
            "lip": w.lip_pixel,
            "lip_lpips": w.lip_perceptual,
            "face": w.face_pixel,
            "face_lpips": w.face_perceptual,
            "depth": w.depth,
            "sync": w.sync,
        }
        self.step = 0
        self.expert_step = 0
        self.elapsed = 0.0
        self.history: list[dict[str, float]] = []

    # -- data ----------------------------------------------------------------------------------------------
    def _depth_ring(self) -> torch.Tensor:
        """Canonical pixels (P, 2) of the blend region outside the lip box, every 2nd pixel: skin that moves
        with the head only, where the photometric depth loss (Eq. 9) is meaningful."""
        d = self.data
        patch_mask = d.blend_mask_patch > 0.99
        lip = d.lip_box.inside(d.patch)
        patch_mask[lip.slices] = False
        ys, xs = np.nonzero(patch_mask[::2, ::2])
        pts = np.stack([xs * 2 + d.patch.x0, ys * 2 + d.patch.y0], axis=1).astype(np.float32)
        return torch.from_numpy(pts)

    def _motion_weight(self, strength: float) -> torch.Tensor:
        """(1, 1, h, w) per-pixel weight of the lip loss: 1 + strength × (the pixel's standard deviation over
        the training frames / its mean over the box). Pixels that move with speech weigh more — the paper's
        premise that the lips are what speech drives — so the field learns how far the mouth opens sooner
        instead of settling on the average mouth."""
        lips = self.lips[torch.from_numpy(self.data.train_frames)].float()
        std = lips.std(dim=0).mean(dim=0)  # (h, w)
        return (1 + strength * std / std.mean().clamp(min=1e-6))[None, None]

    def _crops(self, frames: np.ndarray) -> torch.Tensor:
        return (
            torch.from_numpy(np.stack([self.data.crops[f] for f in frames])).permute(0, 3, 1, 2).float() / 255
        )

    def _sample_frames(self, count: int) -> np.ndarray:
        return self.rng.choice(
            self.data.train_frames, size=count, replace=len(self.data.train_frames) < count
        )

    def _window(self, centres: np.ndarray, shift: int = 0) -> np.ndarray:
        half = self.cfg.sync_frames // 2
        offsets = np.arange(-half, half + 1)
        frames = centres[:, None] + offsets[None, :] + shift
        return np.clip(frames, 0, self.data.n_frames - 1)

    def _real_mouths(self, frames: np.ndarray) -> torch.Tensor:
        """(B, F) frame windows → (B, F, sh, sw), frames outside training as the nearest training frame."""
        return self.mouths[torch.from_numpy(frames)]

    # -- stage 1: the sync expert --------------------------------------------------------------------------
    def expert_batch_loss(self, centres: np.ndarray) -> torch.Tensor:
        expert = self.model.expert
        dev = self.device
        v = expert.embed_mouth(self._real_mouths(self._window(centres)).to(dev))
        a = expert.embed_speech(self.sync_speech[torch.from_numpy(centres)].to(dev))
        shifted = list(SHIFTS)
        v_neg = torch.stack(
            [expert.embed_mouth(self._real_mouths(self._window(centres, s)).to(dev)) for s in shifted], dim=1
        )
        a_idx = np.clip(centres[:, None] + np.array(shifted)[None, :], 0, self.data.n_frames - 1)
        a_neg = expert.embed_speech(self.sync_speech[torch.from_numpy(a_idx.reshape(-1))].to(dev)).reshape(
            len(centres), len(shifted), -1
        )
        return contrastive_loss(expert, a, v, v_neg) + contrastive_loss(expert, v, a, a_neg)

    def train_expert(self, deadline: float, on_progress: ProgressFn | None) -> None:
        expert = self.model.expert
        expert.train()
        steps = self.tcfg.sync_expert_steps
        started = time.monotonic() - self.elapsed
        while self.expert_step < steps and time.monotonic() < deadline:
            centres = self.rng.choice(self.window_centres, size=self.tcfg.sync_expert_batch)
            loss = self.expert_batch_loss(centres)
            self.expert_optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.expert_optimizer.step()
            self.expert_step += 1
            self.elapsed = time.monotonic() - started
            if on_progress is not None:
                on_progress(
                    Progress(
                        "sync expert",
                        self.expert_step,
                        steps,
                        {"sync_expert": float(loss.detach())},
                        None,
                        self.elapsed,
                    )
                )
        expert.eval()
        expert.requires_grad_(False)

    def expert_accuracy(self, frames: np.ndarray) -> float | None:
        """How often the expert ranks the true speech first among the shifted ones (SHIFTS and 0), on the
        given window centres (held-out frames measure it; it never trains on them)."""
        half = self.cfg.sync_frames // 2
        n = self.data.n_frames
        centres = np.array([c for c in frames if half <= c < n - half - max(SHIFTS) and c + min(SHIFTS) >= 0])
        if len(centres) == 0:
            return None
        expert = self.model.expert
        with torch.no_grad():
            mouths = torch.from_numpy(
                np.stack(
                    [self._grey_mouths(self._window(centres[i : i + 1])[0]) for i in range(len(centres))]
                )
            ).to(self.device)
            v = expert.embed_mouth(mouths)
            shifts = np.array([0, *SHIFTS])
            idx = np.clip(centres[:, None] + shifts[None, :], 0, n - 1)
            a = expert.embed_speech(self.sync_speech[torch.from_numpy(idx.reshape(-1))].to(self.device))
            sims = torch.einsum("bd,bkd->bk", v, a.reshape(len(centres), len(shifts), -1))
        return float((sims.argmax(dim=1) == 0).float().mean())

    def _grey_mouths(self, frames: np.ndarray) -> np.ndarray:
        """(len(frames), sh, sw) grey lips in [0, 1] at the sync expert's size."""
        sw, sh = self.layout.sync_size
        out = [
            cv2.resize(np.asarray(self.data.lips[f]), (sw, sh), interpolation=cv2.INTER_AREA) for f in frames
        ]
        return (np.stack(out).astype(np.float32) @ np.array(LUMA, np.float32)) / 255.0

    # -- stage 2: everything else --------------------------------------------------------------------------
    def _lr(self, progress: float) -> float:
        lo, hi = self.tcfg.final_learning_rate, self.tcfg.learning_rate
        return lo + 0.5 * (hi - lo) * (1 + math.cos(math.pi * min(1.0, progress)))

    def train_step(self, progress: float) -> dict[str, float]:
        # Mixed precision on a GPU: bfloat16 for the networks; the geometry stays float32 (below).
        with torch.autocast("cuda", dtype=torch.bfloat16, enabled=self.device.type == "cuda"):
            losses = self._losses(progress)
        total = sum(self._weights[k] * v.float() for k, v in losses.items())
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()  # type: ignore[union-attr]
        self.optimizer.step()
        out = {k: float(v.detach()) for k, v in losses.items()}
        out["total"] = float(total.detach())  # type: ignore[union-attr]
        return out

    def _losses(self, progress: float) -> dict[str, torch.Tensor]:
        t, w = self.tcfg, self.tcfg.loss
        model, dev = self.model, self.device
        # the lip loss sees more frames (cheap) than the composition path (the crops and Blend-Net are not)
        lip_frames = self._sample_frames(max(t.batch_frames, t.lip_batch_frames))
        idx = torch.from_numpy(lip_frames)
        cond = model.condition(
            self.speech[idx].to(dev), self.sync_speech[idx].to(dev), self.seconds[idx].to(dev)
        )
        lw, lh = self.layout.lip_train_size
        if t.continuous_sampling:
            pred = render_continuous(model.field, cond, lw, lh, self.gen)
        else:
            pred = model.field.render(cond, lw, lh)
        target = self.lips[idx].to(dev).float() / 255.0
        valid = self.lip_valid[idx].to(dev).float()
        losses: dict[str, torch.Tensor] = {}
        weight = valid * self.motion_weight.to(dev)
        losses["lip"] = ((pred - target).square() * weight).sum() / (3 * weight.sum()).clamp(min=1e-6)
        perceptual = self.perceptual is not None and self.step % t.perceptual_every == 0
        if perceptual and w.lip_perceptual > 0:
            losses["lip_lpips"] = self.perceptual(pred.clamp(0, 1), target).mean()  # type: ignore[misc]

        frames = lip_frames[: t.batch_frames]
        pred = pred[: t.batch_frames]
        idx = idx[: t.batch_frames]
        crops = self._crops(frames).to(dev)
        rot, trans, org = (
            self.rotations[idx].to(dev),
            self.translations[idx].to(dev),
            self.origins[idx].to(dev),
        )
        with torch.autocast("cuda", enabled=False):  # sub-pixel positions need float32
            grid = model.crop_grid(rot, trans, org)
        holes = (t.hole_probability, t.hole_ratio, self.gen) if t.blend_net else None
        composed = model.compose(pred, crops, grid, holes)
        region = (composed.blend_mask > 0.01).float()
        losses["face"] = ((composed.output - crops).square() * region).sum() / (3 * region.sum()).clamp(min=1)
        if perceptual and w.face_perceptual > 0:
            a, b = (
                _shrink(composed.output.clamp(0, 1), t.perceptual_max_side),
                _shrink(crops, t.perceptual_max_side),
            )
            losses["face_lpips"] = self.perceptual(a, b).mean()  # type: ignore[misc]
        if t.learn_depth and w.depth > 0:
            losses["depth"] = self._depth_loss(frames, crops, rot, trans)
        if t.sync_loss and w.sync > 0 and progress >= t.sync_start:
            losses["sync"] = self._sync_loss()

        return losses

    def _depth_loss(
        self, frames: np.ndarray, crops: torch.Tensor, rot: torch.Tensor, trans: torch.Tensor
    ) -> torch.Tensor:
        model, d = self.model, self.data
        pts = self.ring.to(self.device)[None].expand(len(frames), -1, -1)
        depth = model.depth(pts)
        observed, _ = canonical_to_observed(pts, depth, model.layout.camera, rot, trans)
        values = []
        inside = []
        for k, f in enumerate(frames):
            rect = d.crop_rect(int(f))
            values.append(sample_image(crops[k : k + 1], observed[k : k + 1], rect)[0])
            inside.append(inside_rect(observed[k], rect))
        sampled = torch.stack(values)  # (B, 3, P)
        mask = torch.stack(inside).float()[:, None]
        ring = self.ring.to(self.device)
        truth = sample_image(model.canonical, ring[None], d.patch)  # (1, 3, P)
        return ((sampled - truth).square() * mask).sum() / (3 * mask.sum()).clamp(min=1)

    def _sync_loss(self) -> torch.Tensor:
        model, dev = self.model, self.device
        expert = model.expert
        centres = self.rng.choice(self.window_centres, size=self.tcfg.sync_batch)
        frames = self._window(centres)  # (B, F)
        flat = torch.from_numpy(frames.reshape(-1))
        cond = model.condition(
            self.speech[flat].to(dev), self.sync_speech[flat].to(dev), self.seconds[flat].to(dev)
        )
        sw, sh = self.layout.sync_size
        lips = model.field.render(cond, sw, sh)  # (B·F, 3, sh, sw)
        mouths = grey(lips.clamp(0, 1)).reshape(len(centres), self.cfg.sync_frames, sh, sw)
        v = expert.embed_mouth(mouths)
        a = expert.embed_speech(self.sync_speech[torch.from_numpy(centres)].to(dev))
        a_idx = np.clip(centres[:, None] + np.array(SHIFTS)[None, :], 0, self.data.n_frames - 1)
        a_neg = expert.embed_speech(self.sync_speech[torch.from_numpy(a_idx.reshape(-1))].to(dev)).reshape(
            len(centres), len(SHIFTS), -1
        )
        return contrastive_loss(expert, v, a, a_neg)

    def heldout_psnr(self) -> float | None:
        """Lip PSNR (canonical lip box, training resolution) on a fixed sample of held-out frames."""
        if len(self.probe) == 0:
            return None
        model = self.model
        idx = torch.from_numpy(self.probe)
        with torch.no_grad():
            dev = self.device
            cond = model.condition(
                self.speech[idx].to(dev), self.sync_speech[idx].to(dev), self.seconds[idx].to(dev)
            )
            lw, lh = self.layout.lip_train_size
            pred = model.field.render(cond, lw, lh)
        return _psnr(pred, self.lips[idx].to(self.device).float() / 255.0)

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
            else:
                self.model.expert.eval()
                self.model.expert.requires_grad_(False)
            started = time.monotonic() - self.elapsed
            budget = max(1.0, deadline - time.monotonic())
            start_elapsed = self.elapsed
            last_save = last_probe = time.monotonic()
            psnr = self.heldout_psnr()
            losses: dict[str, float] = {}
            self.model.train()
            self.model.expert.eval()
            while self.step < t.steps and time.monotonic() < deadline:
                progress = max(self.step / t.steps, (self.elapsed - start_elapsed) / budget)
                for group in self.optimizer.param_groups:
                    group["lr"] = self._lr(progress)
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
        return TrainResult(
            steps_done=self.step,
            expert_steps_done=self.expert_step,
            seconds=round(self.elapsed, 1),
            stopped_by="steps" if self.step >= t.steps else "budget",
            final_losses=losses,
            heldout_lip_psnr=psnr,
            expert_accuracy=self.expert_accuracy(np.array(list(self.data.heldout))),
            history=self.history,
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
        self.step, self.expert_step, self.elapsed = state["step"], state["expert_step"], state["elapsed"]
        self.history = list(state["history"])
        self.rng = np.random.default_rng(int(state["rng"]) + self.step)
        if self.expert_step >= self.tcfg.sync_expert_steps:
            self.model.expert.eval()
            self.model.expert.requires_grad_(False)
