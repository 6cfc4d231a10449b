"""CPBD sharpness (s2l_model.metrics.cpbd): synthetic edges, the reference's rules, real frames under blur."""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from s2l_model.metrics.cpbd import _edge_widths, _vertical_sobel_edges, cpbd

BT601 = np.array([0.299, 0.587, 0.114])


def rectangles(size: int = 256, seed: int = 0) -> np.ndarray:
    """Grey (size x size, uint8) image of overlapping flat rectangles: pixel-sharp steps of many contrasts."""
    rng = np.random.default_rng(seed)
    image = np.full((size, size), 128, dtype=np.uint8)
    for _ in range(40):
        y0, x0 = rng.integers(0, size - 36, 2)
        h, w = rng.integers(10, 60, 2)
        image[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256)
    return image


def checkerboard(size: int = 256, square: int = 16) -> np.ndarray:
    """A 40/200 checkerboard whose edges sit half a pixel off the grid (area-sampled), so each step has one
    intermediate pixel. (A pixel-aligned board has two equal Sobel responses per step, and the reference's
    strict-maximum thinning keeps neither: it scores 0.0 there, as the port does.)"""
    y, x = (np.mgrid[0 : size * 4, 0 : size * 4] + 0.5) / 4.0 + 0.5
    board = ((x // square + y // square) % 2).reshape(size, 4, size, 4).mean(axis=(1, 3))
    return np.rint(40 + 160 * board).astype(np.uint8)


def blurred(image: np.ndarray, sigma: float) -> np.ndarray:
    return ndimage.gaussian_filter(image.astype(np.float64), sigma) if sigma > 0 else image


# ------------------------------------------------------------------------------------------- synthetic


@pytest.mark.parametrize("make", [rectangles, checkerboard])
def test_sharp_steps_score_high_and_blur_scores_lower(make):
    sharp = make()
    scores = [cpbd(blurred(sharp, sigma)) for sigma in (0.0, 0.5, 1.0, 2.0)]
    assert scores[0] > 0.95
    assert scores[0] > scores[1] > scores[2] >= scores[3]
    assert scores[2] < 0.2


def test_values_of_the_reference_port():
    # cpbd 1.0.7 compute() (patched to import) gave these on the same images; ours matched to 1e-16 on
    # uint8 grey input, and 20 frames of the dev clip matched the same way.
    image = rectangles()
    assert cpbd(image) == pytest.approx(1.0, abs=1e-9)
    assert cpbd(np.rint(blurred(image, 0.5))) == pytest.approx(0.825871, abs=1e-6)
    assert cpbd(np.rint(blurred(image, 1.0))) == pytest.approx(0.077551, abs=1e-6)
    assert cpbd(np.rint(blurred(checkerboard(), 0.5))) == pytest.approx(0.054838, abs=1e-6)


@pytest.mark.parametrize("shape", [(128, 128), (64, 64), (80, 120), (128, 128, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.float64])
def test_flat_image_scores_zero(shape, dtype):
    assert cpbd(np.full(shape, 77, dtype=dtype)) == 0.0


def test_rgb_and_gray_inputs_agree():
    rng = np.random.default_rng(1)
    rgb = np.zeros((192, 256, 3), dtype=np.uint8)
    for _ in range(30):
        y0, x0 = rng.integers(0, 160, 2)
        h, w = rng.integers(8, 50, 2)
        rgb[y0 : y0 + h, x0 : x0 + w] = rng.integers(0, 256, 3)
    rgb = np.rint(ndimage.gaussian_filter(rgb.astype(np.float64), (0.7, 0.7, 0))).astype(np.uint8)
    gray = np.rint(rgb.astype(np.float64) @ BT601).astype(np.uint8)
    value = cpbd(rgb)
    assert 0.0 < value < 1.0
    assert value == cpbd(gray)
    assert value == cpbd(gray.astype(np.float64))  # float input on the 0..255 scale
    assert cpbd(np.repeat(gray[:, :, None], 3, axis=2)) == cpbd(gray)  # grey as RGB


def test_value_range_on_noise_and_textures():
    rng = np.random.default_rng(2)
    images = [
        rng.integers(0, 256, (128, 192), dtype=np.uint8),
        rng.normal(128, 40, (200, 130)),
        blurred(rng.integers(0, 256, (96, 96)).astype(np.float64), 1.2),
        rng.integers(0, 256, (64, 64, 3), dtype=np.uint8),
    ]
    for image in images:
        value = cpbd(image)
        assert isinstance(value, float)
        assert 0.0 <= value <= 1.0


def test_only_whole_64_blocks_count():
    # As in the reference: blocks are the whole 64x64 tiles from the top-left; the rest is not scored.
    def with_bar(y: int, x: int) -> np.ndarray:
        crop = np.full((80, 120), 100, dtype=np.uint8)
        crop[y : y + 10, x : x + 30] = 200
        crop[y : y + 10, [x, x + 29]] = 150  # half-grey end columns: a one-pixel Sobel ridge to measure
        return crop

    assert cpbd(with_bar(20, 20)) > 0.9  # inside the top-left block: sharp
    assert cpbd(with_bar(66, 20)) == 0.0  # below row 64
    assert cpbd(with_bar(20, 75)) == 0.0  # right of column 64
    assert cpbd(rectangles()[:63]) == 0.0  # 63 rows: no whole block at all


def test_bad_input_is_refused():
    with pytest.raises(ValueError, match="grayscale or HxWx3"):
        cpbd(np.zeros((64, 64, 4)))
    with pytest.raises(ValueError, match="grayscale or HxWx3"):
        cpbd(np.zeros(64))
    with pytest.raises(ValueError, match="NaN"):
        cpbd(np.full((64, 64), np.nan))


def naive_widths(gray: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Marziliano widths walked pixel by pixel (slow, plainly right), to check the vectorised version."""
    height, width = gray.shape
    out = np.zeros((height, width))
    for r in range(1, height - 1):
        for c in range(1, width - 1):
            if not edges[r, c]:
                continue
            gx = (gray[r, c + 1] - gray[r, c - 1]) / 2
            gy = (gray[r + 1, c] - gray[r - 1, c]) / 2
            angle = 45 * np.round(np.degrees(np.arctan2(gy, gx)) / 45) if gx != 0 else 0.0
            if angle not in (0.0, 180.0, -180.0):
                continue
            sign = 1 if angle == 0 else -1  # rising: values fall walking left and rise walking right
            left = 0
            j = c - 1  # compare pixel j-1 with j, from one pixel left of the edge
            while left < 100 and j - 1 >= 0 and sign * (gray[r, j] - gray[r, j - 1]) > 0:
                left += 1
                j -= 1
            right = 0
            j = c + 1
            while right < 100 and j + 1 < width and sign * (gray[r, j + 1] - gray[r, j]) > 0:
                right += 1
                j += 1
            out[r, c] = 2 + left + right
    return out


@pytest.mark.parametrize("sigma", [0.0, 0.8, 2.5])
def test_vectorised_edge_widths_match_a_pixel_walk(sigma):
    rng = np.random.default_rng(3)
    gray = np.rint(blurred(rectangles(96, seed=4).astype(np.float64), sigma))
    gray[::7] = np.rint(gray[::7] + rng.normal(0, 3, gray[::7].shape)).clip(0, 255)  # some ragged rows
    edges = _vertical_sobel_edges(gray)
    widths = _edge_widths(gray, edges)
    assert np.count_nonzero(widths) > 50
    np.testing.assert_array_equal(widths, naive_widths(gray, edges))


def test_long_ramps_are_capped_at_100_steps_a_side():
    row = np.concatenate([np.zeros(20), np.arange(1.0, 241.0), np.full(52, 241.0)])  # 240-step ramp
    gray = np.tile(row, (5, 1))
    edges = np.zeros(gray.shape, dtype=bool)
    edges[2, 140] = True  # middle of the ramp
    assert _edge_widths(gray, edges)[2, 140] == 2 + 100 + 100


# ------------------------------------------------------------------------------------------- real frames


@pytest.fixture(scope="module")
def anchor_frames(cnn_anchor: Path) -> list[np.ndarray]:
    from s2l_model.media.video import iter_frames

    return list(iter_frames(cnn_anchor, fps=Fraction(1, 10), max_frames=4))  # frames 10 s apart


@pytest.mark.realdata
def test_cpbd_falls_with_gaussian_blur_on_real_frames(anchor_frames):
    sigmas = (0.0, 0.5, 1.0, 1.5, 2.0, 3.0)
    for k, frame in enumerate(anchor_frames):
        gray = frame.astype(np.float64) @ BT601
        scores = [cpbd(blurred(gray, sigma)) for sigma in sigmas]
        assert 0.3 < scores[0] < 0.8, (k, scores)  # a broadcast frame: sharp-ish, not synthetic-sharp
        # Strictly falling up to sigma 2; at sigma 3 it may already have reached 0 (no sharp edge left).
        up_to_2 = scores[:-1]
        assert all(a > b for a, b in itertools.pairwise(up_to_2)), (k, scores)
        assert scores[-1] <= scores[-2], (k, scores)


@pytest.mark.realdata
def test_mouth_crop_120x80_works(anchor_frames):
    for frame in anchor_frames:
        crop = frame[325:405, 205:325]  # 120 wide, 80 high around the mouth (face near the centre)
        assert crop.shape == (80, 120, 3)
        value = cpbd(crop)
        assert 0.0 < value <= 1.0
        assert cpbd(ndimage.gaussian_filter(crop.astype(np.float64), (2.0, 2.0, 0.0))) < value
