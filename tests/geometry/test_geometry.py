"""GAMEM geometry against numbers that can be checked by hand."""

import math

import numpy as np
import pytest
import torch

from s2l_model.geometry import (
    PinholeCamera,
    Pose,
    backward_warp,
    c2o_grid,
    forward_splat,
    o2c_grid,
    pixel_grid,
    relative_pose,
    relative_poses,
    render_depth,
    rotation_from_euler,
    umeyama,
)
from s2l_model.geometry.crop import Rect, covering_crop_size, crop_layout, crop_origins, project_blend_box

H = W = 64
CAM = PinholeCamera.centred(W, H, focal=500.0)  # principal point (31.5, 31.5)


def head_depth(height: int = H, width: int = W, z0: float = 10.0) -> torch.Tensor:
    """A smooth, head-like surface: a sphere cap bulging towards the camera."""
    pix = pixel_grid(height, width, torch.float64)
    r2 = ((pix[..., 0] - width / 2) ** 2 + (pix[..., 1] - height / 2) ** 2) / (width / 2) ** 2
    return z0 - 0.8 * torch.sqrt(torch.clamp(1.5 - r2, min=0.0))


def test_projection_by_hand():
    points = torch.tensor([[0.0, 0.0, 4.0], [1.0, 0.0, 2.0], [0.0, -1.0, 5.0]], dtype=torch.float64)
    np.testing.assert_allclose(CAM.project(points).numpy(), [[31.5, 31.5], [281.5, 31.5], [31.5, -68.5]])


def test_backproject_then_project_returns_the_pixel():
    pix = pixel_grid(H, W, torch.float64)
    np.testing.assert_allclose(
        CAM.project(CAM.backproject(pix, head_depth())).numpy(), pix.numpy(), atol=1e-9
    )


def test_identity_pose_maps_every_pixel_to_itself():
    pose = Pose(rotation_from_euler(0.1, -0.2, 0.05), np.array([0.1, 0.2, 10.0]))
    grid = o2c_grid(head_depth(), CAM, pose, pose)
    assert (grid - pixel_grid(H, W, torch.float64)).abs().max() < 1e-4


def test_sideways_head_shift_moves_a_plane_by_f_tx_over_z():
    plane = torch.full((H, W), 10.0, dtype=torch.float64)
    canonical = Pose(np.eye(3), np.array([0.0, 0.0, 10.0]))
    observed = Pose(np.eye(3), np.array([0.2, 0.0, 10.0]))  # head 0.2 units to the right
    grid = o2c_grid(plane, CAM, canonical, observed)
    shift = grid - pixel_grid(H, W, torch.float64)
    np.testing.assert_allclose(shift[..., 0].numpy(), 500 * 0.2 / 10)  # 10 px to the right
    np.testing.assert_allclose(shift[..., 1].numpy(), 0.0, atol=1e-9)


def test_roll_of_90_degrees_turns_right_into_down():
    plane = torch.full((H, W), 10.0, dtype=torch.float64)
    canonical = Pose(np.eye(3), np.array([0.0, 0.0, 10.0]))
    observed = Pose(rotation_from_euler(0, 0, math.pi / 2), np.array([0.0, 0.0, 10.0]))
    grid = o2c_grid(plane, CAM, canonical, observed)
    # the canonical pixel 8 px right of the centre is 8 px below the centre in the observed view
    x, y = grid[31, 39].tolist()  # row 31 is 0.5 px above the centre line 31.5
    assert (x, y) == pytest.approx((31.5 + 0.5, 31.5 + 7.5), abs=1e-9)


def test_o2c_then_c2o_returns_home():
    depth = head_depth()
    canonical = Pose(np.eye(3), np.array([0.0, 0.0, 10.0]))  # head coordinates centred on the head
    turn = rotation_from_euler(math.radians(5), math.radians(10), math.radians(-3))
    observed = Pose(turn, np.array([0.05, -0.03, 10.2]))
    to_obs = o2c_grid(depth, CAM, canonical, observed)  # canonical pixel → observed position
    obs_depth, holes = render_depth(depth, CAM, relative_pose(canonical, observed))
    back = c2o_grid(obs_depth, CAM, canonical, observed)  # observed pixel → canonical position
    # Follow each canonical pixel there and back (bilinear lookup of the C2O grid at the observed position).
    home, inside = backward_warp(back.permute(2, 0, 1), to_obs)
    hole_free, _ = backward_warp((~holes).double()[None], to_obs)
    ok = inside & (hole_free[0] > 0.999)
    ok[:4], ok[-4:], ok[:, :4], ok[:, -4:] = False, False, False, False  # image borders
    error = (home.permute(1, 2, 0) - pixel_grid(H, W, torch.float64)).norm(dim=-1)[ok]
    assert ok.sum() > 0.6 * H * W
    assert error.median() < 0.05 and error.quantile(0.95) < 0.5


def test_umeyama_recovers_a_known_pose_and_scale():
    rng = np.random.default_rng(0)
    source = rng.standard_normal((50, 3))
    truth = Pose(rotation_from_euler(0.3, -0.5, 1.1), np.array([1.0, -2.0, 30.0]))
    target = 1.7 * source @ truth.rotation.T + truth.translation + rng.normal(scale=1e-3, size=(50, 3))
    pose, scale = umeyama(source, target, with_scale=True)
    assert scale == pytest.approx(1.7, abs=1e-3)
    np.testing.assert_allclose(pose.rotation, truth.rotation, atol=1e-3)
    np.testing.assert_allclose(pose.translation, truth.translation, atol=1e-2)
    assert np.linalg.det(pose.rotation) == pytest.approx(1.0)


def test_umeyama_never_returns_a_reflection():
    source = np.random.default_rng(1).standard_normal((20, 3))
    mirrored = source * np.array([-1.0, 1.0, 1.0])
    pose, _ = umeyama(source, mirrored)
    assert np.linalg.det(pose.rotation) == pytest.approx(1.0)


def test_pose_inverse_and_compose():
    pose = Pose(rotation_from_euler(0.2, 0.1, -0.4), np.array([1.0, 2.0, 3.0]))
    ident = pose.compose(pose.inverse())
    np.testing.assert_allclose(ident.rotation, np.eye(3), atol=1e-12)
    np.testing.assert_allclose(ident.translation, 0.0, atol=1e-12)


def sample_poses() -> tuple[np.ndarray, np.ndarray]:
    """Three head poses (head → camera): (3, 3, 3) rotations and (3, 3) translations."""
    angles = [(0.0, 0.0, 0.0), (0.2, -0.1, 0.3), (-0.4, 0.5, 0.05)]
    rotations = np.stack([rotation_from_euler(*a) for a in angles])
    return rotations, np.array([[0.0, 0.0, 10.0], [1.0, -2.0, 12.0], [-0.5, 0.3, 9.0]])


def test_relative_poses_to_the_identity_are_the_observed_poses():
    rotations, translations = sample_poses()
    rel_r, rel_t = relative_poses(Pose.identity(), rotations, translations)
    np.testing.assert_array_equal(rel_r, rotations)
    np.testing.assert_array_equal(rel_t, translations)


def test_relative_pose_of_a_pose_to_itself_is_the_identity():
    rotations, translations = sample_poses()
    for rotation, translation in zip(rotations, translations, strict=True):
        rel_r, rel_t = relative_poses(Pose(rotation, translation), rotation[None], translation[None])
        np.testing.assert_allclose(rel_r[0], np.eye(3), atol=1e-12)
        np.testing.assert_allclose(rel_t[0], 0.0, atol=1e-12)


def test_relative_poses_match_one_at_a_time_and_keep_nan_rows():
    rotations, translations = sample_poses()
    rotations[1], translations[1] = np.nan, np.nan  # a frame without a pose
    canonical = Pose(rotations[2], translations[2])
    rel_r, rel_t = relative_poses(canonical, rotations.astype(np.float32), translations.astype(np.float32))
    assert rel_r.dtype == rel_t.dtype == np.float64
    assert np.isnan(rel_r[1]).all() and np.isnan(rel_t[1]).all()
    for f in (0, 2):
        observed = Pose(
            rotations[f].astype(np.float32).astype(np.float64), translations[f].astype(np.float32)
        )
        one = relative_pose(canonical, observed)
        np.testing.assert_allclose(rel_r[f], one.rotation, atol=1e-12)
        np.testing.assert_allclose(rel_t[f], one.translation, atol=1e-12)


BOX = Rect(10, 20, 9, 7)  # corners (10, 20) … (18, 26), centre (14, 23)


def test_blend_box_under_the_identity_pose_stays_in_place():
    depth = np.full((30, 40), 10.0)
    still = np.eye(3)[None], np.zeros((1, 3))
    proj, proj_z = project_blend_box(BOX, depth, (0, 0), CAM, *still)
    corners = [[10, 20], [18, 20], [10, 26], [18, 26], [14, 23]]
    np.testing.assert_allclose(proj[0], corners, atol=1e-4)
    np.testing.assert_allclose(proj_z[0], 10.0)
    # A depth map cut to a patch starting at (5, 15) gives the same points.
    patch_proj, _ = project_blend_box(BOX, depth[15:, 5:], (5, 15), CAM, *still)
    np.testing.assert_array_equal(patch_proj, proj)


def test_crop_origins_centre_the_crop_and_stay_in_the_frame():
    centres = np.array([[50.0, 40.0], [5.0, 78.0], [99.0, 2.0]])
    origins = crop_origins(centres, (20, 10), (100, 80))
    assert origins.dtype == np.int32
    assert origins.tolist() == [[40, 35], [0, 70], [80, 0]]


def test_covering_crop_size_grows_the_largest_box_to_multiples_of_four():
    corners = np.array([[[0, 0], [7, 0], [0, 5], [7, 5]], [[0, 0], [9, 0], [0, 3], [9, 3]]], float)
    # Extents (7, 5) and (9, 3): 9 * 1.1 = 9.9 → 12, 5 * 1.1 = 5.5 → 8; never larger than the frame.
    assert covering_crop_size(corners, (64, 64)) == (12, 8)
    assert covering_crop_size(corners, (10, 7)) == (8, 4)


def test_crop_layout_follows_the_projected_box():
    depth = np.full((64, 64), 10.0)
    rotations = np.stack([np.eye(3)] * 3)
    # Frame 1: the head 0.2 to the right at depth 10 moves the box by f * 0.2 / 10 = 10 px. Frame 2: no pose.
    translations = np.array([[0.0, 0.0, 0.0], [0.2, 0.0, 0.0], [np.nan] * 3])
    posed = np.array([True, True, False])
    layout = crop_layout(BOX, depth, (0, 0), CAM, rotations, translations, posed, (64, 64))
    assert layout.crop_size == (12, 8)  # extent (8, 6) grown by 10 %, in multiples of 4
    assert layout.origins.tolist() == [[8, 19], [18, 19], [0, 0]]  # centre (14, 23) minus half the crop
    assert layout.in_view.tolist() == [True, True, False]
    # The box spans x 10 … 18 and y 20 … 26; the crop x 8 … 19 and y 19 … 26: inside, touching the bottom.
    np.testing.assert_allclose(layout.overflow[:2], [[-2, -1, -1, 0]] * 2, atol=1e-4)
    np.testing.assert_array_equal(layout.overflow[2], 0.0)
    given = crop_layout(BOX, depth, (0, 0), CAM, rotations, translations, posed, (64, 64), (16, 12))
    assert given.crop_size == (16, 12) and given.origins[:2].tolist() == [[6, 17], [16, 17]]
    np.testing.assert_allclose(given.overflow[0], [-4, -3, -3, -2], atol=1e-4)
    with pytest.raises(ValueError, match="no posed frame"):
        crop_layout(BOX, depth, (0, 0), CAM, rotations, translations, np.zeros(3, bool), (64, 64))


def test_backward_warp_by_an_integer_shift():
    image = torch.arange(2 * 8 * 8, dtype=torch.float64).reshape(2, 8, 8)
    grid = pixel_grid(8, 8, torch.float64) + torch.tensor([2.0, 0.0], dtype=torch.float64)
    warped, inside = backward_warp(image, grid)
    np.testing.assert_allclose(warped[:, :, :6].numpy(), image[:, :, 2:].numpy())
    assert inside[:, :6].all() and not inside[:, 6:].any()


def test_forward_splat_keeps_the_nearest_and_reports_holes():
    values = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)  # (C=1, H=1, W=3)
    targets = torch.tensor([[[0.2, 0.0], [0.4, 0.1], [2.0, 0.0]]], dtype=torch.float64)  # two land on (0, 0)
    depth = torch.tensor([[5.0, 4.0, 6.0]], dtype=torch.float64)
    out, holes = forward_splat(values, targets, depth, (1, 3))
    assert out[0, 0].tolist() == [2.0, 0.0, 3.0]  # the nearer (depth 4) wins
    assert holes[0].tolist() == [False, True, False]


def test_depth_receives_gradients_through_the_warp():
    depth = head_depth().clone().requires_grad_(True)
    image = torch.rand(3, H, W, dtype=torch.float64)
    canonical = Pose(np.eye(3), np.array([0.0, 0.0, 10.0]))
    observed = Pose(rotation_from_euler(0.0, math.radians(8), 0.0), np.array([0.0, 0.0, 10.1]))
    warped, inside = backward_warp(image, o2c_grid(depth, CAM, canonical, observed))
    assert inside.float().mean() > 0.5
    warped.sum().backward()
    assert depth.grad is not None and depth.grad.abs().sum() > 0


def _half_pixel_round_trip(mode: str) -> np.ndarray:
    """A vertical step edge (0 | 1) shifted right by half a pixel and back, sampled with ``mode``."""
    from s2l_model.geometry.crop import sample_image

    rect = Rect(0, 0, 16, 4)
    image = torch.zeros(1, 1, 4, 16)
    image[..., 8:] = 1.0
    ys, xs = torch.meshgrid(torch.arange(4.0), torch.arange(16.0), indexing="ij")
    there = torch.stack([xs + 0.5, ys], dim=-1)[None]
    back = torch.stack([xs - 0.5, ys], dim=-1)[None]
    shifted = sample_image(image, there, rect, padding="border", mode=mode)
    return sample_image(shifted, back, rect, padding="border", mode=mode)[0, 0, 1].numpy()


def test_face_images_are_resampled_sharper_than_bilinear():
    # O2C into the training set and C2O back are two resamplings; bilinear spreads a step over three pixels
    # (0, 0.25, 0.75, 1), the image sampling keeps it steeper, and still maps integer positions exactly.
    from s2l_model.geometry.crop import IMAGE_SAMPLING, sample_image

    bilinear = _half_pixel_round_trip("bilinear")
    assert np.allclose(bilinear[6:10], [0.0, 0.25, 0.75, 1.0], atol=1e-6)
    sharp = _half_pixel_round_trip(IMAGE_SAMPLING)
    assert np.abs(np.diff(sharp)).max() > 0.6
    image = torch.rand(1, 3, 5, 7)
    ys, xs = torch.meshgrid(torch.arange(5.0), torch.arange(7.0), indexing="ij")
    same = sample_image(image, torch.stack([xs, ys], dim=-1)[None], Rect(0, 0, 7, 5), mode=IMAGE_SAMPLING)
    assert torch.allclose(same, image, atol=1e-5)
