"""The mouth stage's pieces: the resting code under ``--mouth-amp`` and silence, the calibration, the
losses that fight damping, and the least-squares appearance basis of the lip field."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from s2l_model.dataset.batches import CODE_SHIFTS
from s2l_model.fields.lip import LipField, LipFieldConfig, code_kernels, fit_appearance
from s2l_model.models.mouth import MouthStage, component_weights, fit_calibration, mouth_terms


def _stage(k: int = 3) -> MouthStage:
    stage = MouthStage(feature_dim=5, window_steps=16, components=k, points=4)
    stage.rest.copy_(torch.tensor([0.5, -1.0, 0.25])[:k])
    return stage


def test_drive_gives_the_resting_code_for_amplitude_zero_and_silence() -> None:
    stage = _stage()
    codes = torch.tensor([[2.0, 1.0, -1.0], [0.0, 0.0, 0.0]])
    ones, zeros = torch.ones(2), torch.zeros(2)
    assert torch.equal(stage.drive(codes, ones, 0.0), stage.rest.expand(2, -1))  # --mouth-amp 0
    assert torch.equal(stage.drive(codes, zeros, 1.0), stage.rest.expand(2, -1))  # silence
    assert torch.allclose(stage.drive(codes, ones, 1.0), codes)
    doubled = stage.drive(codes, ones, 2.0)
    assert torch.allclose(doubled - stage.rest, 2 * (codes - stage.rest))  # twice as far from rest
    half = stage.drive(codes, torch.tensor([0.5, 0.5]), 1.0)
    assert torch.allclose(half - stage.rest, 0.5 * (codes - stage.rest))  # a ramp weight: part way


def test_calibration_restores_a_damped_opening_about_the_resting_code() -> None:
    rng = np.random.default_rng(0)
    rest = np.array([-1.0, 0.0, 0.5], np.float32)
    truth = rng.normal(size=(500, 3)).astype(np.float32)
    raw = rest + 0.4 * (truth - rest)  # a prediction with 40 % of the amplitude about rest

    def opening(codes: np.ndarray) -> np.ndarray:  # a linear "opening" of the first two components
        return codes[:, 0] + 0.5 * codes[:, 1]

    cal = fit_calibration(raw, truth, rest, opening)
    assert np.allclose(cal.gain, 2.5, atol=0.02)  # one gain for the whole code
    assert np.allclose(cal.gain * rest + cal.bias, rest)  # the resting code stays put
    assert np.allclose(cal.gain * raw + cal.bias, truth, atol=0.05)
    stage = _stage()
    stage.set_calibration(cal.gain, cal.bias)
    assert torch.allclose(stage.calibrate(torch.from_numpy(raw[:1])), torch.from_numpy(truth[:1]), atol=0.05)
    # a prediction without any motion is not blown up past the gain's range
    flat = fit_calibration(np.tile(rest, (500, 1)) + 1e-4 * raw, truth, rest, opening)
    assert flat.gain[0] == 3.0


def test_calibration_matches_the_codes_as_dub_drives_them() -> None:
    # Half the frames are silent: their truth is the resting mouth, dub drives them to rest whatever the
    # network says (weight 0), and the network says something there (its silent predictions move too).
    rng = np.random.default_rng(1)
    rest = np.zeros(2, np.float32)
    truth = rng.normal(size=(400, 2)).astype(np.float32)
    weight = np.ones(400, np.float32)
    weight[200:] = 0.0
    truth[200:] = rest
    raw = 0.4 * rng.normal(size=(400, 2)).astype(np.float32)
    raw[:200] = 0.4 * truth[:200]  # 40 % of the speaking frames' amplitude

    def opening(codes: np.ndarray) -> np.ndarray:
        return codes[:, 0]

    driven = fit_calibration(raw, truth, rest, opening, weight)
    assert driven.gain[0] == pytest.approx(2.5, abs=0.02)  # what the renderer gets has the truth's spread
    assert np.allclose(rest + weight[:, None] * driven.gain[0] * (raw - rest), truth, atol=0.05)
    ungated = fit_calibration(raw, truth, rest, opening)  # the silent frames' motion counted as amplitude
    assert ungated.gain[0] < 2.0


def test_the_losses_punish_a_damped_prediction_beyond_its_mse() -> None:
    torch.manual_seed(0)
    truth = torch.randn(16, 8, 3).cumsum(dim=1) / 3  # smooth sequences
    shifted = torch.stack([truth.roll(s, dims=1) for s in CODE_SHIFTS], dim=1)
    w = component_weights(3)
    exact = mouth_terms(truth, truth, shifted, w)
    damped = mouth_terms(0.3 * truth, truth, shifted, w)
    assert exact["code"] == 0 and exact["code_velocity"] == 0 and exact["code_variance"] < 1e-10
    assert damped["code_velocity"] > 0 and damped["code_variance"] > 0.1
    assert exact["code_sync"] < mouth_terms(shifted[:, 0], truth, shifted, w)["code_sync"]
    assert torch.isclose(w.mean(), torch.tensor(1.0)) and w[0] > w[-1]


def test_the_appearance_fit_recovers_a_linear_mouth_and_renders_rest_exactly() -> None:
    rng = np.random.default_rng(1)
    k, h, w = 2, 6, 10
    base = rng.uniform(0.3, 0.7, size=(3, h, w)).astype(np.float32)
    true_basis = rng.normal(scale=0.05, size=(k, 3, h, w)).astype(np.float32)
    rest = np.array([0.5, -0.5], np.float32)
    codes = rng.normal(size=(300, k)).astype(np.float32)
    lips = base[None] + np.einsum("mk,kchw->mchw", codes - rest, true_basis)
    lips_u8 = np.clip(np.round(lips * 255), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    basis, shifted = fit_appearance(codes, lips_u8, np.ones((300, h, w), bool), rest, base)
    assert np.abs(basis - true_basis).max() < 0.02  # within the uint8 rounding and clipping
    config = LipFieldConfig(mlp_depth=2, mlp_width=8, mouth_components=k, use_time=False)
    field = LipField(config, base=torch.from_numpy(base), train_size=(w, h))
    with torch.no_grad():
        field.appearance.copy_(torch.from_numpy(basis).reshape(1, 3 * k, h, w))
        field.base.copy_(torch.from_numpy(shifted)[None])
    cond = field.condition_codes(torch.from_numpy(np.stack([rest, codes[0]])), torch.zeros(2))
    out = field.render(cond, w, h).detach().numpy()
    assert np.abs(out[0] - base).max() < 1e-5  # the resting code renders the canonical lips
    assert np.abs(out[1] - lips[0]).max() < 0.03  # another code its own mouth (G is still zero)


def test_code_kernels_find_the_clusters_and_take_the_median_width() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(scale=0.01, size=(100, 2))
    b = rng.normal(scale=0.01, size=(100, 2)) + np.array([4.0, 0.0])
    centres, width = code_kernels(np.concatenate([a, b]), 2)
    assert sorted(np.round(centres[:, 0]).tolist()) == [0.0, 4.0]
    # 10000 of the 19900 pairs are across the clusters (distance² 16): the median pair is one of them
    assert width == pytest.approx(np.sqrt(16 / 2), rel=0.02)


def test_a_clip_with_fewer_frames_than_kernels_still_gets_every_kernel() -> None:
    codes = np.random.default_rng(3).normal(size=(5, 2)).astype(np.float32)
    centres, width = code_kernels(codes, 16)
    assert centres.shape == (16, 2) and np.isfinite(centres).all() and width > 0
    field = LipField(
        LipFieldConfig(mlp_depth=2, mlp_width=8, mouth_components=2, use_time=False, appearance_kernels=16),
        base=torch.rand(3, 4, 6),
        train_size=(6, 4),
    )
    field.set_kernels(torch.from_numpy(centres), width)  # the buffer's shape: no mismatch
    assert field.appearance_features(torch.from_numpy(codes)).shape == (5, 18)


def test_kernels_fit_a_mouth_a_linear_basis_cannot_and_rest_stays_exact() -> None:
    rng = np.random.default_rng(2)
    k, h, w, m = 2, 6, 10, 400
    base = rng.uniform(0.3, 0.7, size=(3, h, w)).astype(np.float32)
    teeth = rng.uniform(-0.2, 0.2, size=(3, h, w)).astype(np.float32)
    rest = np.zeros(k, np.float32)
    codes = rng.normal(size=(m, k)).astype(np.float32)
    # teeth show only when the mouth opens wide (code 0 > 1): not linear in the code
    lips = base[None] + (codes[:, 0] > 1.0).astype(np.float32)[:, None, None, None] * teeth[None]
    lips_u8 = np.clip(np.round(lips * 255), 0, 255).astype(np.uint8).transpose(0, 2, 3, 1)
    valid = np.ones((m, h, w), bool)

    def fitted(kernels: int) -> float:
        config = LipFieldConfig(
            mlp_depth=2, mlp_width=8, mouth_components=k, use_time=False, appearance_kernels=kernels
        )
        field = LipField(config, base=torch.from_numpy(base), train_size=(w, h))
        if kernels:
            centres, width = code_kernels(codes, kernels)
            field.set_kernels(torch.from_numpy(centres), width)
        with torch.no_grad():
            feats = field.appearance_features(torch.from_numpy(codes)).numpy()
            rest_feats = field.appearance_features(torch.from_numpy(rest[None]))[0].numpy()
            basis, shifted = fit_appearance(feats, lips_u8, valid, rest_feats, base)
            field.appearance.copy_(torch.from_numpy(basis).reshape(field.appearance.shape))
            field.base.copy_(torch.from_numpy(shifted)[None])
            cond = field.condition_codes(
                torch.from_numpy(np.concatenate([rest[None], codes])), torch.zeros(m + 1)
            )
            out = field.render(cond, w, h).numpy()
        assert np.abs(out[0] - base).max() < 1e-4  # the resting code renders the canonical lips
        return float(np.mean((out[1:] - lips) ** 2))

    linear, kernel = fitted(0), fitted(16)
    assert kernel < 0.5 * linear


def test_a_bilabial_heard_just_after_the_frame_closes_the_lips() -> None:
    stage = _stage()
    stage.bilabial[2] = 1.0  # feature channel 2 is a bilabial phone's probability
    windows = torch.zeros(3, 16, 5)  # step i of a 16-step window is centred (i - 7.5) × 20 ms from the frame
    windows[0, 11, 2] = 1.0  # a sure bilabial heard 70 ms after the frame: the lips are closed now
    windows[1, 7, 2] = 1.0  # one heard 10 ms before the frame: released, no longer closed
    windows[2, 15, 2] = 0.3  # an unsure one 150 ms ahead: partly
    closure = stage.closure(windows)
    assert closure.tolist() == pytest.approx([1.0, 0.0, 0.45])
    # what speak drives with (and the calibration fits on): the speech weight less the closure
    assert stage.drive_weight(windows, torch.full((3,), 0.5)).tolist() == pytest.approx([0.0, 0.5, 0.275])
    codes = stage.speak(windows, torch.ones(3), 1.0)
    assert torch.allclose(codes[0], stage.rest)  # closed: the resting code
    assert not torch.allclose(codes[1], stage.rest)
