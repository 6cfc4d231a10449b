"""Real lip detail by mouth code: the fine texture a code-driven lip field averages away.

The lip field renders the mean look of a mouth code: every training frame with a similar code, each a
pixel or two off in registration, averaged. Its lips come out soft (mouth CPBD 0.101 against the footage's
0.160 on the dev clip, fed the true codes), and no amount of training changes that: the code does not say
where each edge of that one frame was.

The bank keeps, for up to ``count`` exemplar training frames spread over the code space (the frames nearest
to k-means centres of the training codes), the *high-pass* of their canonical lips' luma: the lips minus a
Gaussian blur of ``sigma`` px. At render time each frame adds the detail of the exemplar nearest its code
(predicted or given) to the field's lips. The low frequencies, which carry the shape and where the
field is accurate, stay the field's. Measured on the dev clip with the true codes (BENCHMARKS.md): CPBD
0.108 → 0.138, LMD 1.59 → 1.55 px, STLPIPS 0.078 → 0.066, for 0.3 dB of mouth PSNR, and frame-to-frame
texture change still below the footage's own.

Stored as int8 (``DETAIL_RANGE`` over 127 levels) in the profile; the exemplar count is capped so the bank
stays under ``BANK_BYTES`` whatever the lip box's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from s2l_model.fields.lip import code_kernels
from s2l_model.geometry.crop import gaussian_blur

#: The bank's size limit in bytes (int8 luma): 512 exemplars of a 120 x 88 lip box take 5.4 MB.
BANK_BYTES = 8_000_000
#: Detail is clipped to ±DETAIL_RANGE (of [0, 1] luma) and quantised to 127 levels a side.
DETAIL_RANGE = 0.25
_LUMA = (0.299, 0.587, 0.114)  # BT.601, as the sharpness metric (CPBD) sees luma


def bank_size(count: int, lip_width: int, lip_height: int, frames: int) -> int:
    """How many exemplars a bank of at most ``count`` holds for a ``lip_width`` x ``lip_height`` box and
    ``frames`` training frames (``BANK_BYTES`` caps it)."""
    return max(0, min(count, frames, BANK_BYTES // max(1, lip_width * lip_height)))


def luma_detail(lips: torch.Tensor, sigma: float) -> torch.Tensor:
    """(B, 3, H, W) [0, 1] lip images → (B, 1, H, W) their luma minus its Gaussian blur of ``sigma`` px."""
    weights = torch.tensor(_LUMA, dtype=lips.dtype, device=lips.device).view(1, 3, 1, 1)
    luma = (lips * weights).sum(dim=1, keepdim=True)
    return luma - gaussian_blur(luma, sigma)


def exemplar_frames(codes: np.ndarray, count: int, seed: int = 0) -> np.ndarray:
    """Indices into the (M, K) ``codes`` of ``count`` or fewer distinct frames spread over the code space:
    the frame nearest each k-means centre (``code_kernels``), in order."""
    if count <= 0 or not len(codes):
        return np.zeros(0, np.int64)
    centres, _ = code_kernels(codes, count, seed=seed)
    x = np.asarray(codes, np.float32)
    nearest = [int(((x - c) ** 2).sum(axis=1).argmin()) for c in centres]
    return np.array(sorted(set(nearest)), np.int64)


class LipDetailBank(nn.Module):
    """``count`` exemplars' (K,) codes and (H, W) int8 luma detail (buffers: the profile stores them)."""

    def __init__(self, count: int, components: int, width: int, height: int, sigma: float) -> None:
        super().__init__()
        self.sigma = sigma
        self.register_buffer("codes", torch.zeros(count, components))
        self.register_buffer("detail", torch.zeros(count, height, width, dtype=torch.int8))
        self.register_buffer("filled", torch.zeros((), dtype=torch.int64))  # exemplars in use (<= count)

    def fill(self, codes: np.ndarray, lips: Sequence[np.ndarray], valid: Sequence[np.ndarray]) -> None:
        """The exemplars: (E, K) codes, their (H, W, 3) uint8 canonical lips and (H, W) validity (pixels
        the warp did not reach carry no detail). E may be below the bank's count (then the rest stay
        unused)."""
        count = self.codes.shape[0]
        if len(codes) > count:
            raise ValueError(f"{len(codes)} exemplars for a bank of {count}")
        self.codes.zero_()
        self.detail.zero_()
        for k, (image, ok) in enumerate(zip(lips, valid, strict=True)):
            rgb = torch.from_numpy(np.asarray(image, np.float32) / 255).permute(2, 0, 1)[None]
            high = luma_detail(rgb, self.sigma)[0, 0] * torch.from_numpy(np.asarray(ok, np.float32))
            levels = (high.clamp(-DETAIL_RANGE, DETAIL_RANGE) * (127 / DETAIL_RANGE)).round()
            self.detail[k] = levels.to(torch.int8)
        self.codes[: len(codes)] = torch.from_numpy(np.asarray(codes, np.float32))
        self.filled.fill_(len(codes))

    def nearest(self, codes: torch.Tensor) -> torch.Tensor:
        """(B, K) codes → (B,) index of the nearest exemplar."""
        bank = self.codes[: int(self.filled)].to(codes.dtype)
        return torch.cdist(codes, bank).argmin(dim=1)

    def add(self, lips: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) lips rendered at the bank's size for (B, K) codes → the lips with the nearest
        exemplar's detail added to every channel (unchanged when the bank is empty)."""
        if int(self.filled) == 0:
            return lips
        if lips.shape[-2:] != self.detail.shape[-2:]:
            raise ValueError(
                f"lips of {tuple(lips.shape[-2:])} for a detail bank of {tuple(self.detail.shape[-2:])}"
            )
        picked = self.detail[self.nearest(codes)].to(lips.dtype) * (DETAIL_RANGE / 127)
        return lips + picked[:, None]
