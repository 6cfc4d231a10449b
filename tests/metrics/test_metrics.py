"""Metric functions against values that can be checked by hand or by a second implementation."""

from __future__ import annotations

import sys
import types

import cv2
import numpy as np
import pytest
import torch
from skimage import data
from skimage.metrics import structural_similarity

from s2l_model.geometry.topology import MOUTH_LEFT, MOUTH_RIGHT, N_LANDMARKS
from s2l_model.media import Speech
from s2l_model.metrics.image import PSNR_CAP_DB, psnr, ssim
from s2l_model.metrics.landmarks import inter_ocular, lip_points, lmd, mouth_regions
from s2l_model.metrics.phones import CLOSED, OPEN, UNLABELLED, Phone, lip_targets
from s2l_model.metrics.stlpips import load_stlpips, stlpips_distance
from s2l_model.metrics.sync import envelope_sync, offset_curve, phone_sync


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut()[40:296, 120:376])  # 256x256 RGB, a face and texture


# ---- PSNR / SSIM ---------------------------------------------------------------------------------


def test_psnr_of_a_known_mse():
    # half the pixels off by 10 → MSE 50 → 10 log10(255^2 / 50) = 31.1411 dB
    a = np.zeros((16, 16, 3), np.uint8)
    b = a.copy()
    b[:8] = 10
    assert psnr(b, a)[0] == pytest.approx(31.1411, abs=1e-4)
    # every value 5 lower: MSE 25 → 34.1514 dB
    c = np.full((20, 30, 3), 200, np.uint8)
    assert psnr(c - 5, c)[0] == pytest.approx(10 * np.log10(255**2 / 25), abs=1e-9)


def test_psnr_of_identical_images_is_capped_and_batched(photo):
    values = psnr(np.stack([photo, photo]), np.stack([photo, photo]))
    assert values.shape == (2,) and np.all(values == PSNR_CAP_DB)


@pytest.mark.parametrize("change", ["noise", "blur", "shift", "brightness"])
def test_ssim_equals_scikit_image(photo, change):
    rng = np.random.default_rng(1)
    if change == "noise":
        other = np.clip(photo + rng.normal(0, 12, photo.shape), 0, 255).astype(np.uint8)
    elif change == "blur":
        other = cv2.GaussianBlur(photo, (0, 0), 2.0)
    elif change == "shift":
        other = np.roll(photo, 3, axis=1)
    else:
        other = np.clip(photo.astype(int) + 30, 0, 255).astype(np.uint8)
    expected = structural_similarity(
        other,
        photo,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=-1,
    )
    assert ssim(other, photo)[0] == pytest.approx(expected, abs=1e-3)
    assert ssim(photo, photo)[0] == pytest.approx(1.0, abs=1e-12)


def test_ssim_and_psnr_refuse_mismatched_shapes(photo):
    with pytest.raises(ValueError, match="differ in shape"):
        ssim(photo, photo[:-1])
    with pytest.raises(ValueError, match="at least 11"):
        ssim(photo[:8, :8], photo[:8, :8])


# ---- ST-LPIPS ------------------------------------------------------------------------------------


def _as_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image))[None]


def test_stlpips_orders_distortions_as_people_would(photo):
    same = stlpips_distance(_as_tensor(photo), _as_tensor(photo)).item()
    shifted = stlpips_distance(_as_tensor(np.roll(photo, 2, axis=1)), _as_tensor(photo)).item()
    blurred = stlpips_distance(_as_tensor(cv2.GaussianBlur(photo, (0, 0), 3.0)), _as_tensor(photo)).item()
    other = np.ascontiguousarray(data.chelsea()[:256, :256])
    different = stlpips_distance(_as_tensor(other), _as_tensor(photo)).item()
    assert same == pytest.approx(0.0, abs=1e-7)
    assert 0 < shifted < blurred < different  # shift-tolerant: a 2 px shift costs little


def test_stlpips_equals_the_packages_own_network():
    """Our rebuilt networks against stlpips-pytorch's code (run with its unusable imports stubbed)."""
    stubs = {
        name: types.ModuleType(name)
        for name in ("torchvision", "torchvision.models", "IPython", "torchsummary")
    }
    stubs["IPython"].embed = lambda *a, **k: None  # type: ignore[attr-defined]
    stubs["torchsummary"].summary = lambda *a, **k: None  # type: ignore[attr-defined]
    stubs["torchvision"].models = stubs["torchvision.models"]  # type: ignore[attr-defined]
    saved = {name: sys.modules.get(name) for name in stubs}
    sys.modules.update(stubs)
    try:
        from stlpips_pytorch import stlpips as original
    except Exception as error:  # pragma: no cover - depends on the installed wheel
        pytest.skip(f"stlpips-pytorch's own code does not import here: {error}")
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    torch.manual_seed(0)
    a = torch.rand(2, 3, 72, 96)
    b = (a + 0.15 * torch.randn_like(a)).clamp(0, 1)
    for backbone in ("alex", "vgg"):
        theirs = original.LPIPS(net=backbone, variant="shift_tolerant", verbose=False)
        with torch.no_grad():
            expected = theirs(a, b, normalize=True).flatten()
        ours = load_stlpips(backbone)(a, b)
        assert torch.allclose(ours, expected, atol=1e-6), backbone


# ---- mouth region and LMD ------------------------------------------------------------------------


def _face_landmarks(n: int, centre=(100.0, 120.0), mouth_width=40.0, eye_distance=90.0) -> np.ndarray:
    """Landmarks with only the points the metrics read placed deliberately (others at the mouth centre)."""
    lm = np.zeros((n, N_LANDMARKS, 3), np.float32)
    lm[:, :, 0], lm[:, :, 1] = centre
    lips = lip_points()
    rng = np.random.default_rng(0)
    lm[:, lips, :2] += rng.uniform(-5, 5, (n, len(lips), 2))
    lm[:, lips, :2] -= lm[:, lips, :2].mean(axis=1, keepdims=True) - np.array(centre)
    lm[:, MOUTH_LEFT, 0], lm[:, MOUTH_RIGHT, 0] = centre[0] - mouth_width / 2, centre[0] + mouth_width / 2
    lm[:, 33, :2] = (centre[0] - eye_distance / 2, centre[1] - 70)
    lm[:, 263, :2] = (centre[0] + eye_distance / 2, centre[1] - 70)
    return lm


def test_lmd_is_zero_for_identical_landmarks_and_right_for_a_known_shift():
    ref = _face_landmarks(5)
    px, normalised = lmd(ref, ref.copy())
    assert np.all(px == 0) and np.all(normalised == 0)
    moved = ref.copy()
    moved[:, :, 0] += 3.0
    moved[:, :, 1] += 4.0  # every lip point 5 px away
    px, normalised = lmd(moved, ref)
    assert np.allclose(px, 5.0, atol=1e-5)
    assert np.allclose(inter_ocular(ref), 90.0)
    assert np.allclose(normalised, 5.0 / 90.0, atol=1e-6)


def test_lmd_is_undefined_without_a_face():
    ref = _face_landmarks(3)
    pred = ref.copy()
    pred[1] = np.nan
    px, _ = lmd(pred, ref)
    assert np.isnan(px[1]) and px[0] == 0 and px[2] == 0


def test_mouth_region_is_fixed_size_centred_and_inside_the_frame():
    ref = _face_landmarks(4, centre=(100.0, 120.0), mouth_width=40.0)
    ref[2, :, 0] += 30  # the head moves right on frame 2
    ref[3] = np.nan  # no face on frame 3: it takes the nearest frame's box
    regions = mouth_regions(ref, 320, 240)
    assert (regions.width, regions.height) == (64, 44)  # 1.6 x 40 and 1.1 x 40 px
    assert regions.x0[0] == 100 - 32 and regions.y0[0] == 120 - 22
    assert regions.x0[2] == 130 - 32
    assert regions.x0[3] == regions.x0[2]
    near_edge = _face_landmarks(1, centre=(10.0, 235.0))
    edge = mouth_regions(near_edge, 320, 240)
    assert edge.x0[0] == 0 and edge.y0[0] == 240 - edge.height


# ---- sync ----------------------------------------------------------------------------------------


def test_offset_curve_finds_a_known_lag_with_the_documented_sign():
    rng = np.random.default_rng(2)
    lips = rng.normal(size=300)
    audio = np.roll(lips, 4)  # the audio comes 4 frames after the lips
    curve = offset_curve(lips, audio, lambda v, a: float(np.corrcoef(v, a)[0, 1]), 15)
    assert int(np.nanargmax(curve)) - 15 == 4
    assert curve[15 + 4] == pytest.approx(1.0, abs=1e-9)


def _speech_following(opening: np.ndarray, fps: float, lag_frames: int, seed: int = 0) -> Speech:
    """Noise in the speech band whose loudness follows ``opening`` delayed by ``lag_frames``."""
    rate = 16_000
    per_frame = int(rate / fps)
    level = np.repeat(np.roll(opening, lag_frames), per_frame)
    noise = np.random.default_rng(seed).normal(size=len(level))
    return Speech((0.3 * noise * (0.05 + level)).astype(np.float32), rate)


def test_envelope_sync_scores_synced_speech_high_and_reports_the_offset():
    rng = np.random.default_rng(3)
    opening = np.clip(np.convolve(rng.normal(size=400), np.ones(4) / 4, mode="same"), 0, None)
    synced = envelope_sync(opening, _speech_following(opening, 25.0, 0), 25.0)
    late = envelope_sync(opening, _speech_following(opening, 25.0, 6), 25.0)
    assert synced.offset == 0 and synced.score > 0.5 and synced.confidence > 0.3
    assert late.offset == 6 and late.score < synced.score - 0.3
    assert synced.curve.shape == (31,)


def test_lip_targets_follow_phone_classes():
    phones = [Phone("SIL", 0.0, 0.1), Phone("M", 0.1, 0.2), Phone("AA", 0.2, 0.4), Phone("S", 0.4, 0.5)]
    targets = lip_targets(phones, 10.0, 6)  # frame centres 0.05, 0.15, ... 0.55 s
    assert targets.tolist() == [UNLABELLED, CLOSED, OPEN, OPEN, UNLABELLED, UNLABELLED]


def test_phone_sync_separates_open_and_closed_frames():
    rng = np.random.default_rng(4)
    targets = rng.choice(np.array([OPEN, CLOSED, UNLABELLED], np.int8), size=200)
    opening = np.where(targets == OPEN, 0.4, 0.02) + rng.normal(0, 0.03, len(targets))
    speech = Speech(np.zeros(16_000, np.float32), 16_000)
    score = phone_sync(opening, speech, 25.0, targets=targets)
    assert score.score > 3 and score.offset == 0
    assert phone_sync(opening[::-1].copy(), speech, 25.0, targets=targets).score < 1


def test_stlpips_takes_patches_smaller_than_its_backbone_needs() -> None:
    """A small lip patch (13x32 px, as a narrow mouth gives) used to fail in the backbone's padding."""
    import torch

    net = load_stlpips("alex", "cpu")
    a, b = torch.rand(2, 3, 13, 32), torch.rand(2, 3, 13, 32)
    far, same = net(a, b), net(a, a)
    assert torch.isfinite(far).all() and (far > 0.05).all() and torch.allclose(same, torch.zeros(2))
