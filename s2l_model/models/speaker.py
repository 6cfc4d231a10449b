"""The whole learned speaker: lip field, canonical depth, Blend-Net and sync expert, plus the constant
canonical scene they compose into. One ``nn.Module``: its state dict is what a profile stores.

Composition (paper Sec. 4.3-4.4), per observed frame, inside a crop around the lower face:
1. F renders the canonical lip box at any resolution; it is resized to the box's pixels and blended into the
   canonical image with the soft lip mask (the feathered edge hides the seam).
2. C2O: every crop pixel finds its canonical position through the learned depth (``observed_to_canonical``),
   and samples the merged canonical patch and the masks there.
3. Paste: inside the warped lip mask the warped canonical content, elsewhere the observed frame.
4. Blend-Net adds a residual inside the warped blend mask; outside it the source pixel is untouched.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from s2l_model.dataset.batches import FrameSpeech
from s2l_model.features.frames import FeatureConfig
from s2l_model.fields.depth import CanonicalDepthField
from s2l_model.fields.detail import LipDetailBank
from s2l_model.fields.lip import LipField
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.crop import (
    IMAGE_SAMPLING,
    DepthFn,
    Rect,
    observed_to_canonical,
    pixel_centres,
    sample_image,
)
from s2l_model.geometry.mouthcode import mouth_points
from s2l_model.models.blend import BlendNet
from s2l_model.models.config import ModelConfig
from s2l_model.models.mouth import MouthStage
from s2l_model.models.sync import SyncExpert


@dataclass(frozen=True)
class SceneLayout:
    """Sizes and places that fix the networks' shapes (stored in the profile's manifest)."""

    width: int
    height: int
    camera: PinholeCamera
    lip_box: Rect
    blend_box: Rect
    patch: Rect
    crop_size: tuple[int, int]  # (width, height)
    lip_train_size: tuple[int, int]  # the lip field's training resolution (width, height)
    sync_size: tuple[int, int]
    sync_mel_frames: int
    n_mels: int = 80
    detail_exemplars: int = 0  # the lip detail bank's size (0: none, as in profiles from before it)

    def to_dict(self) -> dict[str, object]:
        return {
            "width": self.width,
            "height": self.height,
            "camera": {"focal": self.camera.focal, "cx": self.camera.cx, "cy": self.camera.cy},
            "lip_box": self.lip_box.to_dict(),
            "blend_box": self.blend_box.to_dict(),
            "patch": self.patch.to_dict(),
            "crop_size": list(self.crop_size),
            "lip_train_size": list(self.lip_train_size),
            "sync_size": list(self.sync_size),
            "sync_mel_frames": self.sync_mel_frames,
            "n_mels": self.n_mels,
            "detail_exemplars": self.detail_exemplars,
        }

    @classmethod
    def from_dict(cls, d: dict) -> SceneLayout:
        cam = d["camera"]
        return cls(
            width=int(d["width"]),
            height=int(d["height"]),
            camera=PinholeCamera(focal=float(cam["focal"]), cx=float(cam["cx"]), cy=float(cam["cy"])),
            lip_box=Rect(**d["lip_box"]),
            blend_box=Rect(**d["blend_box"]),
            patch=Rect(**d["patch"]),
            crop_size=(int(d["crop_size"][0]), int(d["crop_size"][1])),
            lip_train_size=(int(d["lip_train_size"][0]), int(d["lip_train_size"][1])),
            sync_size=(int(d["sync_size"][0]), int(d["sync_size"][1])),
            sync_mel_frames=int(d["sync_mel_frames"]),
            n_mels=int(d.get("n_mels", 80)),
            detail_exemplars=int(d.get("detail_exemplars", 0)),
        )


def scaled_size(box: Rect, width: int) -> tuple[int, int]:
    """(width, height) of a box sampled ``width`` pixels across, keeping its aspect (never upsampled)."""
    w = min(width, box.width)
    return w, max(4, round(box.height * w / box.width))


def put_back(
    source: np.ndarray, origin: tuple[int, int], crop: np.ndarray, region: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """A copy of the (H, W, 3) ``source`` frame with the composed ``crop`` (h, w, 3) written where its
    ``region`` (h, w) bool is set, the crop's top-left at ``origin`` (x, y); and the frame-sized region."""
    x, y = origin
    h, w = region.shape
    frame = source.copy()
    # copyto with a mask writes in place: twice as fast as boolean indexing (a gather, then a scatter).
    np.copyto(frame[y : y + h, x : x + w], crop, where=region[..., None])
    mask = np.zeros(source.shape[:2], bool)
    mask[y : y + h, x : x + w] = region
    return frame, mask


@dataclass
class Composed:
    output: torch.Tensor  # (B, 3, ch, cw) final crop
    pasted: torch.Tensor  # (B, 3, ch, cw) before Blend-Net
    lip_mask: torch.Tensor  # (B, 1, ch, cw)
    blend_mask: torch.Tensor  # (B, 1, ch, cw)


class SpeakerModel(nn.Module):
    def __init__(
        self,
        config: ModelConfig,
        layout: SceneLayout,
        canonical_patch: np.ndarray,
        depth_patch: np.ndarray,
        lip_mask_patch: np.ndarray,
        blend_mask_patch: np.ndarray,
        *,
        learn_depth: bool = True,
        use_blend: bool = True,
    ) -> None:
        super().__init__()
        self.config = config
        self.layout = layout
        self.use_blend = use_blend
        box = layout.lip_box
        canonical = torch.from_numpy(np.ascontiguousarray(canonical_patch)).permute(2, 0, 1).float() / 255.0
        lips = canonical[(slice(None), *box.inside(layout.patch).slices)]
        self.field = LipField(
            config.lip_field(),
            layout.n_mels,
            aspect=box.width / box.height,
            base=lips,
            train_size=layout.lip_train_size,
        )
        self.depth = CanonicalDepthField(
            torch.from_numpy(np.ascontiguousarray(depth_patch)), layout.patch, learn_depth
        )
        self.blend = BlendNet(config.blend_channels, config.blend_residual_blur * layout.lip_box.width)
        self.mouth: MouthStage | None = None
        if self.field.by_codes:
            features = config.speech_features()
            self.mouth = MouthStage(
                features.dim, features.window_steps, config.mouth_components, len(mouth_points())
            )
        self.expert = SyncExpert(config.sync_frames, config.sync_dim, layout.n_mels)
        self.detail: LipDetailBank | None = None
        if self.field.by_codes and layout.detail_exemplars > 0:
            self.detail = LipDetailBank(
                layout.detail_exemplars,
                config.mouth_components,
                box.width,
                box.height,
                sigma=config.lip_detail_blur * box.width,
            )
        self.register_buffer("canonical", canonical[None])
        self.register_buffer(
            "lip_mask", torch.from_numpy(np.ascontiguousarray(lip_mask_patch)).float()[None, None]
        )
        self.register_buffer(
            "blend_mask", torch.from_numpy(np.ascontiguousarray(blend_mask_patch)).float()[None, None]
        )

    def set_mel_statistics(self, mean: np.ndarray, std: np.ndarray) -> None:
        """Per-band log-mel statistics of the training speech, for both audio encoders."""
        m, sd = torch.from_numpy(mean).float(), torch.from_numpy(std).float()
        if self.field.audio is not None:
            self.field.audio.norm.set_statistics(m, sd)
        self.expert.audio_norm.set_statistics(m, sd)

    def condition(self, mel: torch.Tensor, sync_mel: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """The lip field's per-frame condition from the frame's log-mel window, the sync expert's (longer)
        window and the frame time. The expert's speech embedding was trained (stage 1) to tell mouth shapes
        apart, so it is a speech code the field can use from its first steps (the role DeepSpeech features
        play in the paper); the expert stays frozen here."""
        code = None
        if self.config.expert_speech:
            with torch.no_grad():
                code = self.expert.embed_speech(sync_mel)
        return self.field.condition(mel, seconds, code)

    def condition_of(
        self, speech: FrameSpeech, code_noise: float = 0.0, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """The lip field's condition of training frames: (B, cond_dim) from their ``FrameSpeech``. A
        mouth-driven field gets the frames' true codes, with Gaussian ``code_noise`` (in code units: the
        speaker's own standard deviations) added, so it also renders well the slightly-off codes the speech
        → mouth stage predicts when dubbing."""
        if not self.field.by_codes:
            return self.condition(speech.mel, speech.sync_mel, speech.seconds)
        if speech.codes is None:
            raise ValueError("a mouth-driven lip field needs the frames' mouth codes")
        codes = speech.codes
        if code_noise > 0:
            noise = torch.randn(codes.shape, generator=generator, device=codes.device, dtype=codes.dtype)
            codes = codes + code_noise * noise
        return self.field.condition_codes(codes, speech.seconds)

    @property
    def hears(self) -> FeatureConfig | None:
        """The speech feature windows the mouth stage hears (None: a speech-driven field, log-mel only)."""
        return self.config.speech_features() if self.mouth is not None else None

    def condition_codes(self, codes: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """The lip field's condition from (B, K) mouth codes (already driven: see ``MouthStage.drive``)."""
        return self.field.condition_codes(codes, seconds)

    def render_lips(self, codes: torch.Tensor, seconds: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) lips at the lip box's full size for (B, K) mouth codes at (B,) frame times: the lip
        field's, plus the real detail of the exemplar nearest each code where the model has a bank."""
        box = self.layout.lip_box
        lips = self.field.render(self.condition_codes(codes, seconds), box.width, box.height)
        return lips if self.detail is None else self.detail.add(lips, codes)

    def freeze_expert(self) -> None:
        """Stage 2 on: the sync expert is a fixed judge (and speech code); ``train()`` undoes its eval mode,
        so call this after it."""
        self.expert.eval()
        self.expert.requires_grad_(False)

    # -- geometry -------------------------------------------------------------------------------------------
    def crop_grid(
        self,
        rotations: torch.Tensor,
        translations: torch.Tensor,
        origins: torch.Tensor,
        window: Rect | None = None,
        depth_of: DepthFn | None = None,
    ) -> torch.Tensor:
        """(B, h, w, 2) canonical pixel of every crop pixel (C2O through the learned depth); only of the
        pixels of ``window`` (in crop coordinates) when given. ``depth_of`` replaces the depth field (a
        frozen copy at inference)."""
        cw, ch = self.layout.crop_size
        window = window or Rect(0, 0, cw, ch)
        base = pixel_centres(window, window.width, window.height).to(origins.device)
        pixels = base[None] + origins[:, None, None, :].float()
        flat = observed_to_canonical(
            pixels.reshape(len(origins), -1, 2),
            depth_of or self.depth,
            self.layout.camera,
            rotations,
            translations,
        )
        return flat.reshape(len(origins), window.height, window.width, 2)

    # -- composition ----------------------------------------------------------------------------------------
    def merge_lips(self, lips: torch.Tensor) -> torch.Tensor:
        """(B, 3, h, w) lip images at any resolution → (B, 3, ph, pw) canonical patch with the lips in."""
        box = self.layout.lip_box.inside(self.layout.patch)
        up = F.interpolate(lips, size=(box.height, box.width), mode="bilinear", align_corners=False)
        ys, xs = box.slices
        canvas = self.canonical.expand(len(lips), -1, -1, -1)
        mask = self.lip_mask[:, :, ys, xs]
        delta = mask * (up - canvas[:, :, ys, xs])
        ph, pw = self.canonical.shape[-2:]
        pad = (box.x0, pw - box.x0 - box.width, box.y0, ph - box.y0 - box.height)
        return canvas + F.pad(delta, pad)

    def compose(
        self,
        lips: torch.Tensor,
        crops: torch.Tensor,
        grid: torch.Tensor,
        holes: tuple[float, float, torch.Generator | None] | None = None,
        sampling: str = IMAGE_SAMPLING,
        blend: bool = True,
    ) -> Composed:
        """Paste generated ``lips`` into observed ``crops`` (B, 3, ch, cw) in [0, 1] along C2O ``grid``.
        ``sampling`` (how C2O resamples the lips) and ``blend`` (False: no Blend-Net) are for the benches'
        ablations (``bench/heldout.py --oracles``)."""
        from s2l_model.models.blend import black_holes

        merged = self.merge_lips(lips)
        patch = self.layout.patch
        warped = sample_image(merged, grid, patch, padding="border", mode=sampling)
        masks = sample_image(torch.cat([self.lip_mask, self.blend_mask], dim=1), grid, patch, padding="zeros")
        lip_mask, blend_mask = masks[:, :1], masks[:, 1:]
        pasted = lip_mask * warped + (1 - lip_mask) * crops
        if not (self.use_blend and blend):
            return Composed(pasted, pasted, lip_mask, blend_mask)
        net_in = pasted if holes is None else black_holes(pasted, lip_mask, *holes)
        return Composed(self.blend(net_in, blend_mask), pasted, lip_mask, blend_mask)
