"""Pure pieces of training checked against numbers that can be worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from s2l_model.dataset.batches import (
    SHIFTS,
    MouthBatches,
    TrainingBatches,
    calibration_frames,
    shifted_frames,
    window_centres,
    window_frames,
)
from s2l_model.dataset.mouthset import MouthSet, SpeechCopy
from s2l_model.dataset.trainset import TrainingSet
from s2l_model.engine.config import load_preset
from s2l_model.errors import InputError
from s2l_model.fields.lip import LipField, LipFieldConfig, continuous_samples, grid_queries
from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.crop import (
    Rect,
    canonical_to_observed,
    gaussian_blur,
    observed_to_canonical,
    pixel_centres,
    sample_image,
)
from s2l_model.geometry.mouthcode import MouthBasis
from s2l_model.geometry.pose import rotation_from_euler
from s2l_model.models.blend import BlendNet, black_holes
from s2l_model.models.losses import contrastive_loss
from s2l_model.models.sync import SyncExpert

CAMERA = PinholeCamera(focal=500.0, cx=63.5, cy=63.5)


def _plane_depth(pixels: torch.Tensor) -> torch.Tensor:
    """A tilted plane in front of the camera: depth grows to the right."""
    return 10.0 + 0.002 * pixels[..., 0]


def test_identity_pose_maps_pixels_home() -> None:
    pixels = pixel_centres(Rect(10, 20, 8, 6), 8, 6).reshape(1, -1, 2)
    eye, zero = torch.eye(3)[None], torch.zeros(1, 3)
    observed, _ = canonical_to_observed(pixels, _plane_depth(pixels), CAMERA, eye, zero)
    assert torch.allclose(observed, pixels, atol=1e-4)
    back = observed_to_canonical(pixels, _plane_depth, CAMERA, eye, zero)
    assert torch.allclose(back, pixels, atol=1e-4)


def test_c2o_inverts_o2c_for_a_turned_head() -> None:
    """O2C then C2O returns home: observed_to_canonical finds the canonical pixel it came from."""
    rotation = torch.from_numpy(
        rotation_from_euler(math.radians(8), math.radians(-12), math.radians(5))
    ).float()
    translation = torch.tensor([[0.3, -0.2, 0.5]])
    canonical = pixel_centres(Rect(30, 40, 40, 30), 40, 30).reshape(1, -1, 2)
    observed, _ = canonical_to_observed(
        canonical, _plane_depth(canonical), CAMERA, rotation[None], translation
    )
    assert (observed - canonical).abs().max() > 5  # the pose really moves things
    back = observed_to_canonical(observed, _plane_depth, CAMERA, rotation[None], translation, iterations=6)
    assert (back - canonical).abs().max() < 0.01


def test_sample_image_reads_pixels_in_frame_coordinates() -> None:
    image = torch.arange(12.0).reshape(1, 1, 3, 4)  # value = 4·row + column
    rect = Rect(100, 50, 4, 3)
    at = torch.tensor([[[101.0, 51.0], [102.5, 50.0]]])
    assert sample_image(image, at, rect)[0, 0].tolist() == pytest.approx([5.0, 2.5])


def test_continuous_sampling_weights_interpolate_bilinearly() -> None:
    """The area weights of Eq. 2 reproduce a linear function at the pixel centre exactly."""
    corners, weights = continuous_samples(2, 6, 4, torch.Generator().manual_seed(1))
    assert torch.allclose(weights.sum(-1), torch.ones(2, 24))
    centres = grid_queries(6, 4).expand(2, -1, -1)
    linear = lambda xy: 3 * xy[..., 0] - 2 * xy[..., 1] + 0.5  # noqa: E731
    blended = (linear(corners).reshape(2, 24, 4) * weights).sum(-1)
    assert torch.allclose(blended, linear(centres), atol=1e-5)
    # every corner stays inside its pixel's cell: half a pixel at most from the centre
    offset = (corners.reshape(2, 24, 4, 2) - centres[:, :, None]).abs()
    assert (offset[..., 0] <= 0.5 / 6 + 1e-6).all() and (offset[..., 1] <= 0.5 / 4 + 1e-6).all()
    assert offset.max() > 0.01  # and they really move


def test_lip_field_renders_any_resolution() -> None:
    field = LipField(
        LipFieldConfig(
            mlp_depth=3, mlp_width=32, audio_dim=16, base_image=False, expert_speech=False, drive="speech"
        ),
        aspect=1.5,
    )
    cond = field.condition(torch.randn(2, 16, 80), torch.tensor([0.0, 1.0]))
    assert field.render(cond, 12, 8).shape == (2, 3, 8, 12)
    assert field.render(cond, 30, 20).shape == (2, 3, 20, 30)
    assert field.render_continuous(cond, 12, 8).shape == (2, 3, 8, 12)


def test_base_image_field_starts_as_its_base_at_full_resolution() -> None:
    """F = B + G with G zero at the start: the untrained field renders the canonical lips, pixel for pixel at
    the base's own size, even though the MLP trains at a lower resolution."""
    base = torch.rand(3, 16, 24)
    field = LipField(
        LipFieldConfig(mlp_depth=2, mlp_width=16, audio_dim=8, expert_speech=False, drive="speech"),
        aspect=1.5,
        base=base,
        train_size=(12, 8),
    )
    cond = field.condition(torch.randn(2, 16, 80), torch.zeros(2))
    assert torch.allclose(field.render(cond, 24, 16), base.expand(2, -1, -1, -1), atol=1e-6)
    # queried at pixel centres of a half-size grid, B reads the 2x2 averages exactly (bilinear at the centre)
    half = field(grid_queries(12, 8).expand(2, -1, -1), cond).transpose(1, 2).reshape(2, 3, 8, 12)
    assert torch.allclose(half[0], torch.nn.functional.avg_pool2d(base[None], 2)[0], atol=1e-6)


def test_training_sees_the_base_exactly_as_rendering_shows_it() -> None:
    """Continuous sampling queries only the MLP; the base enters resampled with antialiasing, as ``render``
    shows it at that size (point samples of a finer base would alias, and G would learn to undo it)."""
    base = torch.rand(3, 88, 120)
    field = LipField(
        LipFieldConfig(mlp_depth=2, mlp_width=16, use_time=False, mouth_components=4),
        base=base,
        train_size=(64, 47),
    )
    cond = field.condition_codes(torch.randn(3, 4), torch.zeros(3))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():  # G is zero at the start: both are the base (and basis) at 64 x 47
        trained = field.render_continuous(cond, 64, 47, generator)
        shown = field.render(cond, 64, 47)
    assert torch.allclose(trained, shown, atol=1e-6)


def test_grid_encoding_variant_runs() -> None:
    config = LipFieldConfig(
        encoding="grid",
        mlp_depth=2,
        mlp_width=16,
        audio_dim=8,
        base_image=False,
        expert_speech=False,
        drive="speech",
    )
    field = LipField(config, aspect=1.5)
    cond = field.condition(torch.randn(1, 16, 80), torch.zeros(1))
    out = field.render(cond, 10, 6)
    out.sum().backward()
    assert field.encoding.grids[0].grad is not None  # type: ignore[union-attr]


@pytest.mark.parametrize("sigma", [0.0, 1.5])
def test_blend_net_leaves_pixels_outside_its_region_untouched(sigma: float) -> None:
    torch.manual_seed(0)
    net = BlendNet(4, residual_sigma=sigma)
    torch.nn.init.normal_(net.outc.weight)  # a trained net changes pixels; the region must still hold
    pasted = torch.rand(2, 3, 16, 20)
    region = torch.zeros(2, 1, 16, 20)
    region[:, :, 4:12, 5:15] = 1
    out = net(pasted, region)
    assert torch.equal(out[..., region[0, 0] == 0], pasted[..., region[0, 0] == 0])
    assert not torch.equal(out[..., region[0, 0] == 1], pasted[..., region[0, 0] == 1])


def checkerboard_part(image: torch.Tensor, rows: slice, cols: slice) -> torch.Tensor:
    """The per-channel amplitude of the finest texture a pixel grid holds, (-1)^(x+y), over a window."""
    ys, xs = torch.meshgrid(torch.arange(image.shape[-2]), torch.arange(image.shape[-1]), indexing="ij")
    sign = (1 - 2 * ((ys + xs) % 2)).to(image.dtype)
    return (image * sign)[..., rows, cols].mean(dim=(-2, -1))


def test_a_low_passed_blend_residual_keeps_the_texture_it_is_given() -> None:
    """Blend-Net with ``residual_sigma`` corrects colour, never the pasted texture: the finest pattern of
    the paste comes out as it went in. The paper's full-band residual, same weights, changes it."""
    torch.manual_seed(0)
    h, w = 32, 40
    ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    texture = 0.1 * (1 - 2 * ((ys + xs) % 2)).float()
    pasted = (0.5 + texture + 0.2 * torch.rand(1, 3, 1, 1)).expand(2, 3, h, w).clamp(0, 1)
    region = torch.zeros(2, 1, h, w)
    region[..., 4:28, 4:36] = 1
    inner = (slice(10, 22), slice(10, 30))  # 3 sigma and more inside the region's border
    given = checkerboard_part(pasted, *inner)
    changed = {}
    for sigma in (0.0, 1.5):
        net = BlendNet(4, residual_sigma=sigma)
        torch.manual_seed(1)  # the same "trained" weights for both
        net.load_state_dict(BlendNet(4).state_dict())
        torch.nn.init.normal_(net.outc.weight)
        with torch.no_grad():
            out = net(pasted, region)
        assert (out - pasted).abs().amax() > 0.05  # the net does change the region's colours
        changed[sigma] = (checkerboard_part(out, *inner) - given).abs().amax().item()
    assert changed[1.5] < 1e-5 < 1e-3 < changed[0.0]


def test_gaussian_blur_keeps_a_constant_and_sums_to_one() -> None:
    image = torch.full((1, 2, 9, 11), 0.3)
    assert torch.allclose(gaussian_blur(image, 1.5), image, atol=1e-6)
    dot = torch.zeros(1, 1, 21, 21)
    dot[..., 10, 10] = 1
    spread = gaussian_blur(dot, 2.0)
    assert abs(spread.sum().item() - 1) < 1e-3 and spread[..., 10, 10].item() < 0.05


def test_black_holes_only_where_warped_content_is() -> None:
    pasted = torch.ones(8, 3, 32, 32)
    where = torch.zeros(8, 1, 32, 32)
    where[..., 8:24, 8:24] = 1
    out = black_holes(pasted, where, probability=1.0, ratio=0.5, generator=torch.Generator().manual_seed(0))
    holes = out == 0
    assert holes.any()
    assert not holes[..., :8, :].any() and not holes[..., 24:, :].any()
    assert black_holes(pasted, where, 0.0, 0.5, None).eq(1).all()  # probability 0: no holes


@pytest.mark.parametrize("name", ["fast", "balanced", "quality"])
def test_shipped_presets_load(name: str) -> None:
    preset = load_preset(name)
    assert preset.name == name and preset.train.steps > 0


def test_preset_extends_and_refuses_unknown_keys(tmp_path) -> None:
    good = tmp_path / "mine.toml"
    good.write_text('extends = "fast"\n[train]\nblend_net = false\nsteps = 7\n')
    preset = load_preset(str(good))
    assert preset.train.steps == 7 and not preset.train.blend_net
    assert preset.model == load_preset("fast").model
    bad = tmp_path / "typo.toml"
    bad.write_text('extends = "fast"\n[train]\nstepz = 7\n')
    with pytest.raises(InputError, match="unknown setting 'stepz'"):
        load_preset(str(bad))
    wrong = tmp_path / "wrong.toml"
    wrong.write_text("[train]\nsteps = 'many'\n")
    with pytest.raises(InputError, match="steps must be int"):
        load_preset(str(wrong))
    with pytest.raises(InputError, match="unknown preset"):
        load_preset("fastest")


def test_rect_inside() -> None:
    assert Rect(10, 20, 5, 5).inside(Rect(4, 8, 50, 50)) == Rect(6, 12, 5, 5)
    # two 2x2-pixel cells across a 4x2 rect: centres halfway between pixels 0/1 and 2/3
    assert np.array_equal(pixel_centres(Rect(0, 0, 4, 2), 2, 1).numpy(), np.array([[[0.5, 0.5], [2.5, 0.5]]]))


def test_put_back_changes_only_the_region() -> None:
    from s2l_model.models.speaker import put_back

    source = np.zeros((10, 12, 3), np.uint8)
    crop = np.full((4, 5, 3), 200, np.uint8)
    region = np.zeros((4, 5), bool)
    region[1:3, 2:4] = True
    frame, mask = put_back(source, (6, 3), crop, region)
    assert mask.sum() == 4 and mask[4:6, 8:10].all()
    assert (frame[mask] == 200).all() and (frame[~mask] == 0).all()
    assert (source == 0).all()  # the source frame is not modified


def _numbered_training_set(n: int = 60, heldout: range = range(48, 60)) -> TrainingSet:
    """A small training set whose lips, crops and speech of frame f all hold the value f; frames 5 and 20
    unusable."""
    from fractions import Fraction
    from pathlib import Path

    from s2l_model.geometry.pose import Pose

    usable = np.ones(n, bool)
    usable[[5, 20]] = False
    filled = np.arange(n, dtype=np.float32)
    lips = np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 6, 9, 3)).copy()
    return TrainingSet(
        folder=Path("."),
        fps=Fraction(25),
        width=64,
        height=48,
        camera=CAMERA,
        canonical_frame=0,
        canonical_pose=Pose(np.eye(3), np.zeros(3)),
        rotations=np.broadcast_to(np.eye(3, dtype=np.float32), (n, 3, 3)).copy(),
        translations=np.zeros((n, 3), np.float32),
        usable=usable,
        mouth_open=np.zeros(n, np.float32),
        train_frames=np.flatnonzero(usable & (np.arange(n) < heldout.start)),
        heldout=heldout,
        lip_box=Rect(20, 20, 9, 6),
        mouth_width=9.0,
        blend_box=Rect(16, 16, 17, 14),
        patch=Rect(12, 12, 25, 22),
        canonical_patch=np.zeros((22, 25, 3), np.uint8),
        depth_patch=np.ones((22, 25), np.float32),
        lip_mask_patch=np.zeros((22, 25), np.float32),
        blend_mask_patch=np.zeros((22, 25), np.float32),
        crop_size=(20, 16),
        lips=lips,
        lip_valid=np.ones((n, 6, 9), bool),
        crops=np.broadcast_to(np.arange(n, dtype=np.uint8)[:, None, None, None], (n, 16, 20, 3)).copy(),
        origins=np.tile(np.array([[14, 16]], np.int32), (n, 1)),
        speech=np.broadcast_to(filled[:, None, None], (n, 16, 80)).copy(),
        sync_speech=np.broadcast_to(filled[:, None, None], (n, 20, 80)).copy(),
    )


def test_window_and_shift_frames_are_clipped_into_the_video() -> None:
    centres = np.array([1, 10])
    assert window_frames(centres, 5, 12).tolist() == [[0, 0, 1, 2, 3], [8, 9, 10, 11, 11]]
    assert window_frames(centres, 3, 12, shift=-3).tolist() == [[0, 0, 0], [6, 7, 8]]
    assert shifted_frames(centres, (-6, 3), 12).tolist() == [[0, 4], [4, 11]]
    train = np.array([0, 1, 2, 3, 4, 6, 7, 8, 9])  # frame 5 is not a training frame
    assert window_centres(train, 12, 3).tolist() == [1, 2, 3, 7, 8]


def test_batches_hold_training_frames_and_probes_held_out_ones() -> None:
    data = _numbered_training_set()
    batches = TrainingBatches(data, (9, 6), (6, 4), 5, 2.0, torch.device("cpu"))
    rng = np.random.default_rng(0)
    train = set(data.train_frames.tolist())

    lip = batches.lip_batch(rng, 6, 2)
    frames = lip.speech.mel[:, 0, 0].long().tolist()
    assert len(frames) == 6 and set(frames) <= train
    assert torch.equal(lip.target * 255, lip.speech.mel[:, :1, :1, None].expand(-1, 3, 6, 9).round())
    assert lip.crops.shape == (2, 3, 16, 20)  # the first two frames are composed
    assert (lip.crops[:, 0, 0, 0] * 255).round().long().tolist() == frames[:2]
    assert [r.x0 for r in lip.crop_rects] == [14, 14]

    windows = batches.sync_windows(rng, 3)
    seen = windows.frame_speech.seconds.reshape(3, 5) * 25
    centres = windows.speech[:, 0, 0].long()
    assert torch.allclose(seen, centres[:, None].float() + torch.arange(-2, 3), atol=1e-4)
    assert set(seen.round().long().flatten().tolist()) <= train  # whole windows of training frames
    expected = np.clip(centres.numpy()[:, None] + np.array(SHIFTS), 0, data.n_frames - 1)
    assert windows.shifted_speech[..., 0, 0].long().tolist() == expected.tolist()
    assert len(windows.shifted_mouths) == len(SHIFTS) and windows.mouths.shape == (3, 5, 4, 6)

    probe = batches.lip_probe()
    assert probe is not None
    assert set(probe.speech.mel[:, 0, 0].long().tolist()) == set(data.heldout)  # never a training frame
    expert_probe = batches.expert_probe()
    assert expert_probe is not None and expert_probe.mouths.shape == (4, 5, 4, 6)
    # the held-out centres whose windows shifted by up to 6 frames stay in the video, true speech first
    assert expert_probe.speech[:, 0, 0, 0].long().tolist() == [48, 49, 50, 51]
    assert expert_probe.speech[0, :, 0, 0].long().tolist() == [48, *(48 + s for s in SHIFTS)]


def test_embedding_sets_of_speech_match_row_by_row() -> None:
    torch.manual_seed(0)
    expert = SyncExpert(frames=5, dim=8, n_mels=80)
    mel = torch.randn(3, 4, 20, 80)
    sets = expert.embed_speech_sets(mel)
    assert sets.shape == (3, 4, 8)
    assert torch.allclose(sets[1], expert.embed_speech(mel[1]), atol=1e-6)


def test_contrastive_loss_prefers_aligned_pairs() -> None:
    expert = SyncExpert(frames=5, dim=4, n_mels=80).requires_grad_(False)
    expert.log_scale.fill_(math.log(50.0))
    eye = torch.eye(4)
    assert float(contrastive_loss(expert, eye, eye)) < 1e-3
    assert float(contrastive_loss(expert, eye, eye.flip(0))) > 10
    # a hard negative identical to the true speech halves the odds of the positive
    assert float(contrastive_loss(expert, eye, eye, eye[:, None])) == pytest.approx(math.log(2), abs=1e-3)


def test_the_calibration_slice_is_spread_over_the_clip_and_never_trained_on() -> None:
    fps, n = 25.0, 1000
    train = np.arange(n)
    cal = calibration_frames(train, fps)
    # blocks of 2 s = 50 frames; the middle (6th) block of every ten is kept: frames 250-299 and 750-799
    assert cal.tolist() == list(range(250, 300)) + list(range(750, 800))
    assert len(calibration_frames(np.arange(300), fps)) == 30  # too short for ten blocks: the last 10 %
    k, steps, dim = 2, 4, 3
    codes = np.zeros((n, k), np.float32)
    slow = SpeechCopy(
        np.zeros((int(n * 1.1), steps, dim), np.float16),
        np.zeros((int(n * 1.1), k)),
        np.ones(int(n * 1.1), bool),
        1.1,
    )
    clean = SpeechCopy(np.zeros((n, steps, dim), np.float16), codes, np.ones(n, bool))
    basis = MouthBasis(np.zeros((1, 3), np.float32), np.zeros((k, 3), np.float32), np.ones(k, np.float32))
    mouth = MouthSet(np.zeros((n, 1, 3), np.float32), basis, codes, np.zeros(k, np.float32), [clean, slow])
    length, margin = 8, 4
    batches = MouthBatches(mouth, train, length, torch.device("cpu"), fps=fps, margin=margin)
    for copy, starts in zip(mouth.copies, batches.starts, strict=True):
        assert len(starts) > 0
        shown = (starts[:, None] + np.arange(length)[None]) / copy.time_scale  # original frames a run shows
        nearest = np.abs(shown[..., None] - cal[None, None]).min(axis=-1)
        assert nearest.min() > margin - 1  # no trained run comes within the margin of a calibration frame
    features, truth, activity = batches.calibration_set()
    assert features.shape == (100, steps, dim) and truth.shape == (100, k)
    assert activity.tolist() == [1.0] * 100  # a mouth set without its activity: every frame speaks
