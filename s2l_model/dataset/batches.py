"""A training set as tensors, handed out as typed batches: what one training step of the speaker model sees.

``TrainingBatches`` cuts a ``TrainingSet`` once into what the steps sample from: the canonical lips of the
training frames (and of the held-out probe frames) at the lip field's training resolution, the sync expert's
grey mouths of the training frames, the speech windows, frame times, poses and crop origins. Its methods
hand out

- ``lip_batch``: random training frames for the lip loss, the first of them also for the composition path;
- ``sync_windows``: random windows of consecutive training frames (the sync expert's input) with their
  speech and the shifted negatives;
- ``lip_probe`` / ``expert_probe``: the fixed held-out frames that measure training, never train it.

Random frames come from the caller's numpy ``Generator`` (the trainer owns and checkpoints it); nothing here
draws from torch's random state. Tensors are returned on the device the batches were made for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from s2l_model.dataset.mouthset import MouthSet
from s2l_model.dataset.trainset import TrainingSet
from s2l_model.geometry.crop import Rect

#: BT.601 weights of R, G, B: the sync expert sees grey mouths (``models.sync.grey`` greys generated lips).
LUMA = (0.299, 0.587, 0.114)
#: Frames: the same speech against mouths shifted this far are the contrastive losses' hard negatives.
SHIFTS = (-6, -3, 3, 6)
#: Frames: the mouth stage's code-level sync term shifts a true code sequence this far for its negatives.
CODE_SHIFTS = (-6, -3, 3, 6)
#: Held-out frames of the lip-PSNR probe, spread evenly over the held-out part.
HELDOUT_PROBE_FRAMES = 16


@dataclass
class FrameSpeech:
    """What conditions the lip field on B frames (``SpeakerModel.condition_of``)."""

    mel: torch.Tensor  # (B, 16, n_mels) the lip field's log-mel windows
    sync_mel: torch.Tensor  # (B, T, n_mels) the sync expert's (longer) windows
    seconds: torch.Tensor  # (B,) frame times
    codes: torch.Tensor | None = None  # (B, K) the frames' true mouth codes (a mouth-driven lip field)


@dataclass
class LipBatch:
    """K training frames for the lip loss; the first B of them (``len(crops)``) also go through composing."""

    speech: FrameSpeech  # of all K frames
    target: torch.Tensor  # (K, 3, h, w) canonical lips in [0, 1] at the training resolution
    pixel_weight: torch.Tensor  # (K, 1, h, w) 0 outside the frame, else the pixel's motion weight
    crops: torch.Tensor  # (B, 3, ch, cw) observed crops in [0, 1]
    crop_rects: list[Rect]  # (B,) where each crop lies in its frame
    rotations: torch.Tensor  # (B, 3, 3) canonical camera → observed camera
    translations: torch.Tensor  # (B, 3)
    origins: torch.Tensor  # (B, 2) int64 crop top-left corners (x, y)


@dataclass
class SyncWindows:
    """B windows of ``sync_frames`` consecutive training frames around their centres."""

    frame_speech: FrameSpeech  # of the B·F window frames, window by window
    speech: torch.Tensor  # (B, T, n_mels) the expert's speech window at each centre
    shifted_speech: torch.Tensor  # (B, K, T, n_mels) the same at centre + each of SHIFTS
    mouths: torch.Tensor  # (B, F, sh, sw) the real grey mouths of the windows
    shifted_mouths: tuple[torch.Tensor, ...]  # per shift of SHIFTS: (B, F, sh, sw) the windows moved


@dataclass
class MouthSequences:
    """B runs of L consecutive frames of one speech copy each, for the mouth stage."""

    features: torch.Tensor  # (B, L, S, D) speech feature windows
    codes: torch.Tensor  # (B, L, K) target codes
    shifted_codes: torch.Tensor  # (B, len(CODE_SHIFTS), L, K) the targets moved (the sync term's negatives)


@dataclass
class LipProbe:
    """The held-out frames of the lip-PSNR probe."""

    speech: FrameSpeech  # (P frames)
    target: torch.Tensor  # (P, 3, h, w) canonical lips in [0, 1] at the training resolution


@dataclass
class ExpertProbe:
    """Held-out mouth windows and their speech at the true time (first) and at each of SHIFTS."""

    mouths: torch.Tensor  # (B, F, sh, sw)
    speech: torch.Tensor  # (B, 1 + K, T, n_mels)


def resize_stack(images: np.ndarray, frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(N, H, W, ...) frame-indexed images → (N, h, w, ...) with ``frames`` resized to ``size`` (w, h), the
    others zero."""
    out = np.zeros((len(images), size[1], size[0], *images.shape[3:]), images.dtype)
    for f in frames:
        out[f] = cv2.resize(np.asarray(images[f]), size, interpolation=cv2.INTER_AREA)
    return out


def grey_mouths(lips: np.ndarray, frames: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """(len(frames), h, w) float32 grey lips in [0, 1] at the sync expert's ``size`` (w, h), from the
    (N, H, W, 3) uint8 canonical ``lips``."""
    out = [cv2.resize(np.asarray(lips[f]), size, interpolation=cv2.INTER_AREA) for f in frames]
    return (np.stack(out).astype(np.float32) @ np.array(LUMA, np.float32)) / 255.0


def probe_frames(data: TrainingSet) -> np.ndarray:
    """(P,) int64: up to HELDOUT_PROBE_FRAMES usable held-out frames, evenly spread."""
    usable = np.array([f for f in data.heldout if data.usable[f]], dtype=np.int64)
    if not len(usable):
        return usable
    return usable[np.linspace(0, len(usable) - 1, min(HELDOUT_PROBE_FRAMES, len(usable))).astype(int)]


def window_centres(train_frames: np.ndarray, n_frames: int, sync_frames: int) -> np.ndarray:
    """(C,) the frames whose whole window of ``sync_frames`` frames lies in the video and in training."""
    half = sync_frames // 2
    trainable = np.zeros(n_frames, bool)
    trainable[train_frames] = True
    ok = np.array(
        [
            trainable[max(0, c - half) : c + half + 1].all() and c - half >= 0 and c + half < n_frames
            for c in range(n_frames)
        ]
    )
    return np.flatnonzero(ok)


def window_frames(centres: np.ndarray, sync_frames: int, n_frames: int, shift: int = 0) -> np.ndarray:
    """(B,) centres → (B, sync_frames) frame numbers of their windows moved by ``shift``, clipped into the
    video."""
    half = sync_frames // 2
    offsets = np.arange(-half, half + 1)
    return np.clip(centres[:, None] + offsets[None, :] + shift, 0, n_frames - 1)


def shifted_frames(centres: np.ndarray, shifts: tuple[int, ...], n_frames: int) -> np.ndarray:
    """(B,) centres → (B, len(shifts)) the frames ``shifts`` away, clipped into the video."""
    return np.clip(centres[:, None] + np.array(shifts)[None, :], 0, n_frames - 1)


def motion_weight(lips: torch.Tensor, strength: float) -> torch.Tensor:
    """(K, 3, h, w) uint8 training lips → (1, 1, h, w) per-pixel weight of the lip loss: 1 + strength × (the
    pixel's standard deviation over the frames / its mean over the box). Pixels that move with speech weigh
    more — the paper's premise that the lips are what speech drives — so the field learns how far the mouth
    opens sooner instead of settling on the average mouth."""
    std = lips.float().std(dim=0).mean(dim=0)  # (h, w)
    return (1 + strength * std / std.mean().clamp(min=1e-6))[None, None]


class TrainingBatches:
    """A training set's tensors, and the batches of one training run drawn from them."""

    def __init__(
        self,
        data: TrainingSet,
        lip_size: tuple[int, int],
        sync_size: tuple[int, int],
        sync_frames: int,
        motion_strength: float,
        device: torch.device,
    ) -> None:
        """``lip_size`` / ``sync_size``: (w, h) of the lip field's training images and of the expert's
        mouths; ``motion_strength``: see ``motion_weight``."""
        self.data, self.sync_frames, self.sync_size, self.device = data, sync_frames, sync_size, device
        n = data.n_frames
        self.probe = probe_frames(data)
        # held-out frames are loaded only to *measure* (the PSNR probe), never to train
        keep = np.concatenate([data.train_frames, self.probe])
        self.lips = torch.from_numpy(resize_stack(data.lips, keep, lip_size)).permute(0, 3, 1, 2)
        valid = resize_stack(data.lip_valid.view(np.uint8), keep, lip_size)
        self.lip_valid = torch.from_numpy(valid > 0)[:, None]
        sw, sh = sync_size
        mouths = np.zeros((n, sh, sw), np.float32)
        mouths[data.train_frames] = grey_mouths(data.lips, data.train_frames, sync_size)
        self.mouths = torch.from_numpy(mouths)
        self.speech = torch.from_numpy(data.speech)
        self.sync_speech = torch.from_numpy(data.sync_speech)
        self.seconds = torch.from_numpy(data.seconds(np.arange(n))).float()
        self.rotations = torch.from_numpy(np.nan_to_num(data.rotations))
        self.translations = torch.from_numpy(np.nan_to_num(data.translations))
        self.origins = torch.from_numpy(data.origins.astype(np.int64))
        self.centres = window_centres(data.train_frames, n, sync_frames)
        self.motion_weight = motion_weight(self.lips[torch.from_numpy(data.train_frames)], motion_strength)
        self.codes = None if data.mouth is None else torch.from_numpy(np.nan_to_num(data.mouth.codes))

    def frame_speech(self, frames: torch.Tensor) -> FrameSpeech:
        """The lip field's condition inputs of (B,) int64 ``frames``."""
        dev = self.device
        return FrameSpeech(
            self.speech[frames].to(dev),
            self.sync_speech[frames].to(dev),
            self.seconds[frames].to(dev),
            None if self.codes is None else self.codes[frames].to(dev),
        )

    def _lip_target(self, frames: torch.Tensor) -> torch.Tensor:
        return self.lips[frames].to(self.device).float() / 255.0

    def lip_batch(self, rng: np.random.Generator, lip_frames: int, composed_frames: int) -> LipBatch:
        """``max(lip_frames, composed_frames)`` random training frames (repeated only when there are fewer
        training frames); the first ``composed_frames`` of them with their crops and poses."""
        train = self.data.train_frames
        count = max(lip_frames, composed_frames)
        frames = rng.choice(train, size=count, replace=len(train) < count)
        idx = torch.from_numpy(frames)
        dev = self.device
        valid = self.lip_valid[idx].to(dev).float()
        composed, cidx = frames[:composed_frames], idx[:composed_frames]
        crops = np.stack([self.data.crops[f] for f in composed])
        return LipBatch(
            speech=self.frame_speech(idx),
            target=self._lip_target(idx),
            pixel_weight=valid * self.motion_weight.to(dev),
            crops=(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 255).to(dev),
            crop_rects=[self.data.crop_rect(int(f)) for f in composed],
            rotations=self.rotations[cidx].to(dev),
            translations=self.translations[cidx].to(dev),
            origins=self.origins[cidx].to(dev),
        )

    def sync_windows(self, rng: np.random.Generator, count: int) -> SyncWindows:
        """``count`` windows around random centres (with repeats) whose frames are all training frames."""
        centres = rng.choice(self.centres, size=count)
        n, dev = self.data.n_frames, self.device
        frames = window_frames(centres, self.sync_frames, n)  # (B, F)
        shifted = shifted_frames(centres, SHIFTS, n)  # (B, K)
        return SyncWindows(
            frame_speech=self.frame_speech(torch.from_numpy(frames.reshape(-1))),
            speech=self.sync_speech[torch.from_numpy(centres)].to(dev),
            shifted_speech=self.sync_speech[torch.from_numpy(shifted)].to(dev),
            mouths=self.mouths[torch.from_numpy(frames)].to(dev),
            shifted_mouths=tuple(
                self.mouths[torch.from_numpy(window_frames(centres, self.sync_frames, n, s))].to(dev)
                for s in SHIFTS
            ),
        )

    def lip_probe(self) -> LipProbe | None:
        """The held-out probe frames (None: no usable held-out frame)."""
        if not len(self.probe):
            return None
        idx = torch.from_numpy(self.probe)
        return LipProbe(self.frame_speech(idx), self._lip_target(idx))

    def expert_probe(self) -> ExpertProbe | None:
        """Windows around the held-out frames whose shifted speech all lies in the video (None: none do).
        Their mouths come straight from the training set's lips: the cached mouths hold training frames
        only."""
        n, half = self.data.n_frames, self.sync_frames // 2
        centres = np.array(
            [c for c in self.data.heldout if half <= c < n - half - max(SHIFTS) and c + min(SHIFTS) >= 0]
        )
        if len(centres) == 0:
            return None
        windows = window_frames(centres, self.sync_frames, n)
        mouths = np.stack([grey_mouths(self.data.lips, window, self.sync_size) for window in windows])
        speech = self.sync_speech[torch.from_numpy(shifted_frames(centres, (0, *SHIFTS), n))]
        return ExpertProbe(torch.from_numpy(mouths).to(self.device), speech.to(self.device))


#: The share of the training frames the mouth stage keeps for its calibration …
CALIBRATION_SHARE = 0.1
#: … as every tenth block of this many seconds, spread over the whole clip: a single slice at the end
#: (6 s of the 71 s dev clip) saw too little of the speaker's range for its std to carry over (the gain it
#: gave made the held-out mouth open 1.38× too wide, BENCHMARKS.md).
CALIBRATION_BLOCK_S = 2.0


def calibration_frames(train_frames: np.ndarray, fps: float) -> np.ndarray:
    """The training frames kept for the mouth stage's calibration: the middle block of every run of ten
    ``CALIBRATION_BLOCK_S`` blocks (frame numbers, sorted). Fewer than ten blocks' worth of frames keep
    the last ``CALIBRATION_SHARE`` of them instead."""
    block = max(1, round(CALIBRATION_BLOCK_S * fps))
    every = round(1 / CALIBRATION_SHARE)
    frames = np.sort(np.asarray(train_frames, np.int64))
    if len(frames) < every * block:
        return frames[int(len(frames) * (1 - CALIBRATION_SHARE)) :]
    order = np.arange(len(frames)) // block  # blocks over the training frames, not over frame numbers
    return frames[order % every == every // 2]


class MouthBatches:
    """The mouth stage's batches: runs of consecutive frames of the training speech and its augmented
    copies, away from the calibration blocks (``calibration_frames``; ``margin`` frames either side are
    kept out too, so that no trained window overlaps a calibration frame's speech); and the calibration
    frames themselves (clean speech, never trained on)."""

    def __init__(
        self,
        mouth: MouthSet,
        train_frames: np.ndarray,
        length: int,
        device: torch.device,
        fps: float,
        margin: int = 0,
    ) -> None:
        self.mouth, self.length, self.device = mouth, length, device
        self.calibration = calibration_frames(train_frames, fps)
        n = len(mouth.codes)
        # frames a trained sequence may show: training frames at least ``margin`` from a calibration frame
        held = np.zeros(n + 2 * margin + 1, bool)
        held[self.calibration + margin] = True
        near = np.convolve(held, np.ones(2 * margin + 1, bool), mode="same")[margin : margin + n] > 0
        trainable = np.zeros(n, bool)
        trainable[np.asarray(train_frames, np.int64)] = True
        trainable &= ~near
        self.starts: list[np.ndarray] = []
        for copy in mouth.copies:
            source = np.arange(len(copy.valid)) / copy.time_scale
            lo = np.clip(np.floor(source).astype(np.int64), 0, n - 1)
            hi = np.clip(lo + 1, 0, n - 1)
            fit = copy.valid & trainable[lo] & trainable[hi]
            run = np.convolve(fit.astype(np.int64), np.ones(length, np.int64), mode="valid")
            self.starts.append(np.flatnonzero(run == length))
        self.copies = [k for k, starts in enumerate(self.starts) if len(starts)]

    def sequences(self, rng: np.random.Generator, count: int) -> MouthSequences:
        which = rng.choice(self.copies, size=count)
        feats, codes, shifted = [], [], []
        steps = np.arange(self.length)
        for k in which:
            copy = self.mouth.copies[int(k)]
            start = int(rng.choice(self.starts[int(k)]))
            frames = start + steps
            feats.append(np.asarray(copy.features[frames], np.float32))
            codes.append(copy.codes[frames])
            last = len(copy.codes) - 1
            shifted.append(np.stack([copy.codes[np.clip(frames + s, 0, last)] for s in CODE_SHIFTS]))
        dev = self.device
        return MouthSequences(
            torch.from_numpy(np.stack(feats)).to(dev),
            torch.from_numpy(np.stack(codes)).to(dev),
            torch.from_numpy(np.stack(shifted)).to(dev),
        )

    def calibration_set(self) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
        """The calibration slice's (M, S, D) clean feature windows, (M, K) true codes and (M,) speech
        activity (all 1 for a mouth set without it)."""
        clean = self.mouth.copies[0]
        frames = self.calibration
        activity = self.mouth.activity
        return (
            torch.from_numpy(np.asarray(clean.features[frames], np.float32)).to(self.device),
            clean.codes[frames],
            np.ones(len(frames), np.float32) if activity is None else activity[frames].astype(np.float32),
        )
