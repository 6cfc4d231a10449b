"""The paper's metrics (Sec. 5.1) as plain functions: image quality, sharpness, landmarks and sync.

image      PSNR, SSIM (Wang et al. 2004 settings)
stlpips    ST-LPIPS perceptual distance (shift-tolerant LPIPS weights from stlpips-pytorch)
cpbd       CPBD no-reference sharpness (Narvekar & Karam 2011)
landmarks  the mouth region, LMD on the lip landmarks
sync       profile-free sync (mouth opening vs speech envelope / English phone classes)
syncnet    the public SyncNet architecture for LSE-C / LSE-D with user-supplied weights
"""

import math


def finite_or_none(value: float | None) -> float | None:
    """A figure for JSON: NaN and infinities (undefined measurements) become null."""
    return float(value) if value is not None and math.isfinite(value) else None
