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
    render_depth,
    rotation_from_euler,
    umeyama,
)

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
