"""The speaker model's training objective (paper Eq. 6-10) and the probes that watch it.

Stage 1 trains the sync expert alone on real mouths: InfoNCE of mouth windows against their speech, with the
batch's other moments and the shifted windows as negatives, both ways round.

Stage 2, per step, for a ``LipBatch`` (and, once the sync loss has joined, ``SyncWindows``):
    L_lip   = MSE(F rendered with continuous sampling, O2C lip target) + w·ST-LPIPS          (Eq. 7)
    L_face  = MSE(composed crop, observed crop) over the blend region + w·ST-LPIPS         (Eq. 8)
    L_depth = MSE(observed crop warped O2C through the learned depth, canonical image)     (Eq. 9)
              on the blend region outside the lip box (skin that moves only with the head)
    L_sync  = InfoNCE of generated mouth windows against their speech vs. other moments and shifts (Eq. 6)
    L = Σ w·L                                                                              (Eq. 10)
The terms are returned unweighted, by name; ``SpeakerLosses.total`` weighs and sums them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from s2l_model.dataset.batches import ExpertProbe, LipBatch, LipProbe, MouthSequences, SyncWindows
from s2l_model.geometry.crop import canonical_to_observed, inside_rect, sample_image
from s2l_model.metrics.stlpips import STLPIPS, load_stlpips
from s2l_model.models.mouth import component_weights, mouth_terms
from s2l_model.models.speaker import SpeakerModel
from s2l_model.models.sync import SyncExpert

#: The name of stage 1's one term: the expert's contrastive loss is all that stage optimises.
EXPERT_TERM = "sync_expert"


@dataclass(frozen=True)
class LossWeights:
    """Eq. 7-10 (a preset's ``[train.loss]`` table). Pixel terms are mean squared errors of [0, 1] colours."""

    lip_pixel: float = 1.0
    lip_perceptual: float = 0.01
    face_pixel: float = 1.0
    face_perceptual: float = 0.01
    depth: float = 1.0
    sync: float = 0.002  # InfoNCE is ~5x the BCE-on-cosine the released weight 0.01 was set for
    # the mouth stage (speech → mouth code, ``models.mouth.mouth_terms``); codes are in the speaker's own
    # standard deviations, so an MSE of 1 is as bad as always predicting the mean
    mouth_code: float = 1.0
    mouth_velocity: float = 1.0
    mouth_variance: float = 0.5
    mouth_sync: float = 0.05

    def by_term(self) -> dict[str, float]:
        """The weight of each term ``SpeakerLosses`` computes, by the term's name."""
        return {
            "code": self.mouth_code,
            "code_velocity": self.mouth_velocity,
            "code_variance": self.mouth_variance,
            "code_sync": self.mouth_sync,
            "lip": self.lip_pixel,
            "lip_lpips": self.lip_perceptual,
            "face": self.face_pixel,
            "face_lpips": self.face_perceptual,
            "depth": self.depth,
            "sync": self.sync,
        }


@dataclass(frozen=True)
class LossOptions:
    """Which terms stage 2 computes and how (the preset's ``[train]`` settings of the losses)."""

    continuous_sampling: bool = True  # Eq. 2 for the lip term; else one query per pixel centre
    learn_depth: bool = True  # the depth term (Eq. 9)
    sync_loss: bool = True  # the sync term (Eq. 6) ...
    sync_start: float = 0.3  # ... from this fraction of the schedule on
    hole_probability: float = 0.5  # Blend-Net's black-hole augmentation (Sec. 4.3), per sample
    hole_ratio: float = 0.5
    perceptual_every: int = 1  # the ST-LPIPS terms every k-th step
    perceptual_max_side: int = 0  # the face term's ST-LPIPS on crops shrunk to this size (0: full size)
    code_noise: float = 0.15  # Gaussian noise on the true mouth codes a mouth-driven field is trained on


def contrastive_loss(
    expert: SyncExpert, mouth: torch.Tensor, speech: torch.Tensor, negatives: torch.Tensor | None = None
) -> torch.Tensor:
    """InfoNCE: row i of ``mouth`` (B, dim) belongs to row i of ``speech`` (B, dim); the other rows, and the
    extra ``negatives`` (B, K, dim) of each row, are unsynced pairs (paper Eq. 6)."""
    logits = expert.scale * mouth @ speech.T  # (B, B)
    if negatives is not None:
        extra = expert.scale * torch.einsum("bd,bkd->bk", mouth, negatives)
        logits = torch.cat([logits, extra], dim=1)
    target = torch.arange(mouth.shape[0], device=mouth.device)
    return F.cross_entropy(logits, target)


def depth_ring(model: SpeakerModel) -> torch.Tensor:
    """(P, 2) canonical pixels of the blend region outside the lip box, every 2nd pixel: skin that moves with
    the head only, where the photometric depth loss (Eq. 9) is meaningful."""
    layout = model.layout
    region = model.blend_mask[0, 0] > 0.99
    region[layout.lip_box.inside(layout.patch).slices] = False
    ys, xs = torch.nonzero(region[::2, ::2], as_tuple=True)
    return torch.stack([xs * 2 + layout.patch.x0, ys * 2 + layout.patch.y0], dim=1).float()


def _shrink(images: torch.Tensor, max_side: int) -> torch.Tensor:
    """(B, C, H, W) → area-downscaled so that the longer side is at most ``max_side`` (0: unchanged)."""
    side = max(images.shape[-2:])
    if max_side <= 0 or side <= max_side:
        return images
    return F.interpolate(images, scale_factor=max_side / side, mode="area")


class SpeakerLosses:
    """The loss terms of a ``SpeakerModel`` during training. ``generator`` drives the random parts
    (continuous sampling, black holes); ST-LPIPS is loaded on ``device`` when a perceptual term weighs."""

    def __init__(
        self,
        model: SpeakerModel,
        weights: LossWeights,
        options: LossOptions,
        generator: torch.Generator,
        device: torch.device,
    ) -> None:
        self.model, self.weights, self.options, self.generator = model, weights, options, generator
        self.by_term = {**weights.by_term(), EXPERT_TERM: 1.0}
        k = model.config.mouth_components
        self.component_weight = component_weights(k).to(device)
        self.perceptual: STLPIPS | None = None
        if weights.lip_perceptual > 0 or weights.face_perceptual > 0:
            self.perceptual = load_stlpips("alex", str(device))
        self.ring = depth_ring(model)

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """Σ w·L (Eq. 10) over ``terms``, in float32."""
        return sum(self.by_term[k] * v.float() for k, v in terms.items())  # type: ignore[return-value]

    def wants_sync_windows(self, progress: float) -> bool:
        """Whether stage 2's terms at this ``progress`` of the schedule include the sync term."""
        o = self.options
        return o.sync_loss and self.weights.sync > 0 and progress >= o.sync_start

    # -- stage 1 --------------------------------------------------------------------------------------------
    def expert_terms(self, windows: SyncWindows) -> dict[str, torch.Tensor]:
        """The sync expert's contrastive loss on real mouths: mouth → speech against the shifted speech,
        and speech → mouth against the shifted mouths."""
        expert = self.model.expert
        v = expert.embed_mouth(windows.mouths)
        a = expert.embed_speech(windows.speech)
        v_neg = torch.stack([expert.embed_mouth(m) for m in windows.shifted_mouths], dim=1)
        a_neg = expert.embed_speech_sets(windows.shifted_speech)
        return {EXPERT_TERM: contrastive_loss(expert, a, v, v_neg) + contrastive_loss(expert, v, a, a_neg)}

    # -- the mouth stage ------------------------------------------------------------------------------------
    def mouth_stage_terms(self, batch: MouthSequences) -> dict[str, torch.Tensor]:
        """The speech → mouth-code terms on ``batch`` (the weights decide which are computed)."""
        stage = self.model.mouth
        assert stage is not None
        b, length = batch.codes.shape[:2]
        raw = stage.predictor(batch.features.reshape(b * length, *batch.features.shape[2:]))
        shifted = batch.shifted_codes if self.weights.mouth_sync > 0 else None
        terms = mouth_terms(raw.reshape(b, length, -1), batch.codes, shifted, self.component_weight)
        return {k: v for k, v in terms.items() if self.by_term[k] > 0}

    # -- stage 2 --------------------------------------------------------------------------------------------
    def joint_terms(self, batch: LipBatch, windows: SyncWindows | None, step: int) -> dict[str, torch.Tensor]:
        """Eq. 7-9 on ``batch`` and, given ``windows``, Eq. 6; the ST-LPIPS terms on every
        ``perceptual_every``-th ``step``."""
        model, o, w = self.model, self.options, self.weights
        lw, lh = model.layout.lip_train_size
        cond = model.condition_of(batch.speech, o.code_noise, self.generator)
        if o.continuous_sampling:
            pred = model.field.render_continuous(cond, lw, lh, self.generator)
        else:
            pred = model.field.render(cond, lw, lh)
        terms: dict[str, torch.Tensor] = {}
        weight = batch.pixel_weight
        terms["lip"] = ((pred - batch.target).square() * weight).sum() / (3 * weight.sum()).clamp(min=1e-6)
        perceptual = self.perceptual if step % o.perceptual_every == 0 else None
        if perceptual is not None and w.lip_perceptual > 0:
            terms["lip_lpips"] = perceptual(pred.clamp(0, 1), batch.target).mean()

        crops = batch.crops
        with torch.autocast("cuda", enabled=False):  # sub-pixel positions need float32
            grid = model.crop_grid(batch.rotations, batch.translations, batch.origins)
        holes = (o.hole_probability, o.hole_ratio, self.generator) if model.use_blend else None
        composed = model.compose(pred[: len(crops)], crops, grid, holes)
        region = (composed.blend_mask > 0.01).float()
        terms["face"] = ((composed.output - crops).square() * region).sum() / (3 * region.sum()).clamp(min=1)
        if perceptual is not None and w.face_perceptual > 0:
            side = o.perceptual_max_side
            terms["face_lpips"] = perceptual(
                _shrink(composed.output.clamp(0, 1), side), _shrink(crops, side)
            ).mean()
        if o.learn_depth and w.depth > 0:
            terms["depth"] = self._depth_term(batch)
        if windows is not None:
            terms["sync"] = self._sync_term(windows)
        return terms

    def _depth_term(self, batch: LipBatch) -> torch.Tensor:
        model = self.model
        pts = self.ring[None].expand(len(batch.crops), -1, -1)
        depth = model.depth(pts)
        observed, _ = canonical_to_observed(
            pts, depth, model.layout.camera, batch.rotations, batch.translations
        )
        values = []
        inside = []
        for k, rect in enumerate(batch.crop_rects):
            values.append(sample_image(batch.crops[k : k + 1], observed[k : k + 1], rect)[0])
            inside.append(inside_rect(observed[k], rect))
        sampled = torch.stack(values)  # (B, 3, P)
        mask = torch.stack(inside).float()[:, None]
        truth = sample_image(model.canonical, self.ring[None], model.layout.patch)  # (1, 3, P)
        return ((sampled - truth).square() * mask).sum() / (3 * mask.sum()).clamp(min=1)

    def _sync_term(self, windows: SyncWindows) -> torch.Tensor:
        """Generated mouth windows, rendered directly at the expert's size, against their speech."""
        model = self.model
        expert = model.expert
        sw, sh = model.layout.sync_size
        lips = model.field.render(model.condition_of(windows.frame_speech), sw, sh)  # (B·F, 3, sh, sw)
        v = expert.embed_lips(lips.reshape(len(windows.speech), -1, 3, sh, sw))
        a = expert.embed_speech(windows.speech)
        return contrastive_loss(expert, v, a, expert.embed_speech_sets(windows.shifted_speech))


# -- probes: measured during training, never trained on ------------------------------------------------------
@torch.no_grad()
def lip_psnr(model: SpeakerModel, probe: LipProbe) -> float:
    """Lip PSNR (dB; canonical lip box at the training resolution) of the probe frames."""
    lw, lh = model.layout.lip_train_size
    pred = model.field.render(model.condition_of(probe.speech), lw, lh)
    mse = float(F.mse_loss(pred.clamp(0, 1), probe.target))
    return 10 * math.log10(1.0 / max(mse, 1e-10))


@torch.no_grad()
def expert_accuracy(expert: SyncExpert, probe: ExpertProbe) -> float:
    """How often the expert ranks the true speech first among the shifted ones."""
    v = expert.embed_mouth(probe.mouths)
    sims = torch.einsum("bd,bkd->bk", v, expert.embed_speech_sets(probe.speech))
    return float((sims.argmax(dim=1) == 0).float().mean())
