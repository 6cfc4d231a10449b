"""The direct-paste baselines' parts (``evaluate/baselines.py``): the fit, the mask and the paste."""

from __future__ import annotations

import math

import numpy as np
import pytest

from s2l_model.evaluate.baselines import (
    FEATHER_CUT_SIGMAS,
    FIT_POINTS,
    LOWER_FACE_MASK,
    MOUTH_MASK,
    feathered_hull_mask,
    paste_mouth,
    similarity_fit,
)


def _similarity(angle_deg: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    a = math.radians(angle_deg)
    rot = scale * np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
    return np.hstack([rot, np.array(shift)[:, None]])


def test_the_similarity_fit_recovers_a_known_transform_exactly() -> None:
    rng = np.random.default_rng(0)
    points = rng.uniform(0, 500, (8, 2))
    known = _similarity(17.0, 1.3, (40.0, -25.0))
    moved = points @ known[:, :2].T + known[:, 2]
    assert np.allclose(similarity_fit(points, moved), known, atol=1e-9)


def test_the_similarity_fit_is_least_squares_and_never_reflects() -> None:
    rng = np.random.default_rng(1)
    points = rng.uniform(0, 100, (20, 2))
    known = _similarity(-5.0, 0.8, (3.0, 7.0))
    noisy = points @ known[:, :2].T + known[:, 2] + rng.normal(0, 0.5, (20, 2))
    fit = similarity_fit(points, noisy)
    assert np.allclose(fit[:, :2], known[:, :2], atol=0.01) and np.allclose(fit[:, 2], known[:, 2], atol=0.6)

    def error(m: np.ndarray) -> float:
        return float(((points @ m[:, :2].T + m[:, 2] - noisy) ** 2).sum())

    for nudge in (_similarity(0.2, 1.0, (0, 0)), _similarity(0.0, 1.01, (0, 0)), _similarity(0, 1, (0.1, 0))):
        moved = np.vstack([fit, [0, 0, 1]])  # any other similarity fits worse
        assert error((np.vstack([nudge, [0, 0, 1]]) @ moved)[:2]) > error(fit)
    mirrored = points * [-1, 1]  # a mirror image is no similarity: the fit stays a rotation
    assert np.linalg.det(similarity_fit(points, mirrored)[:, :2]) > 0
    with pytest.raises(ValueError):
        similarity_fit(points[:1], noisy[:1])


def test_the_mask_is_one_inside_zero_far_outside_and_smooth() -> None:
    square = np.array([[100, 80], [200, 80], [200, 160], [100, 160]], np.float64)
    grow, feather = 4.0, 3.0
    mask = feathered_hull_mask(square, (320, 240), grow, feather)
    assert mask.shape == (240, 320) and mask.dtype == np.float32
    assert (mask[80:161, 100:201] == 1).all()  # the hull
    assert mask[120, 203] == 1  # within the growth
    assert mask[120, 200 + int(grow + FEATHER_CUT_SIGMAS * feather) + 2] == 0
    assert mask[:60].max() == 0 and mask[:, :80].max() == 0  # far outside
    assert 0.3 < mask[120, 200 + int(grow + feather)] < 0.9  # the fall-off: exp(-1/2) at one sigma
    steps = max(np.abs(np.diff(mask, axis=0)).max(), np.abs(np.diff(mask, axis=1)).max())
    assert steps < 0.25  # no hard edge anywhere: at most ~1/feather per pixel
    assert (np.diff(mask[120, 200:230]) <= 0).all()  # it only falls outwards


def _face(centre: tuple[float, float], scale: float) -> np.ndarray:
    """(478, 3) landmarks: the fit and hull points spread around a face centre (others at the centre)."""
    rng = np.random.default_rng(5)
    lm = np.zeros((478, 3))
    lm[:, :2] = centre
    offsets = rng.uniform(-1, 1, (478, 2)) * [60, 50]
    offsets[61], offsets[291] = (-30, 20), (30, 20)  # lip corners
    for i in (1, 4, 5, 195, 197, 6):
        offsets[i] = (rng.uniform(-4, 4), -20 - 10 * rng.uniform())
    lm[:, :2] += scale * offsets
    return lm


def test_the_paste_writes_the_aligned_source_inside_its_region_only() -> None:
    h, w = 240, 320
    ys, xs = np.mgrid[0:h, 0:w]
    source = np.stack([xs % 256, ys % 256, (xs + ys) % 256], axis=-1).astype(np.uint8)
    target = np.full((h, w, 3), 50, np.uint8)
    src_lm = _face((160.0, 120.0), 1.0)
    known = _similarity(0.0, 1.0, (6.0, -4.0))  # the target's face is the source's, shifted
    dst_lm = src_lm.copy()
    dst_lm[:, :2] = src_lm[:, :2] @ known[:, :2].T + known[:, 2]
    regions = []
    for mask in (MOUTH_MASK, LOWER_FACE_MASK):
        paste = paste_mouth(target, dst_lm, source, src_lm, mask)
        assert paste.fit_error_px < 1e-6
        assert (paste.frame[~paste.region] == 50).all()  # outside the region: the target's own pixels
        # deep inside the hull the source is copied, moved by the transform
        cx, cy = dst_lm[list(mask.indices()), :2].mean(axis=0).round().astype(int)
        assert np.array_equal(paste.frame[cy, cx], source[cy + 4, cx - 6])
        assert paste.region.sum() < h * w / 2 and paste.region[cy, cx]
        regions.append(paste.region)
    assert (regions[0] <= regions[1]).all() and regions[0].sum() < regions[1].sum()  # lips < lower face
    assert len(FIT_POINTS) == 8
