"""Pieces of tracking and geometry checked against values that can be worked out by hand."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch

from s2l_model.geometry.camera import PinholeCamera
from s2l_model.geometry.depth import canonical_depth, rasterise_mesh
from s2l_model.geometry.headpose import HeadModel, fit_pose, project_model
from s2l_model.geometry.mouth import MouthBox, observed_mask, soft_mask
from s2l_model.geometry.pose import Pose, rotation_from_euler
from s2l_model.geometry.topology import landmark_set, mesh_triangles, stable_indices
from s2l_model.tracking import poses
from s2l_model.tracking.poses import fit_pose_track, halo_frames, pose_sigma_frames
from s2l_model.tracking.smooth import bilateral_filter, fill_gaps, local_quadratic_filter, plan_gaps, runs
from s2l_model.tracking.store import NpyAppender, npy_rows, read_rows
from s2l_model.tracking.track import RawTrack


def test_npy_appender_round_trip(tmp_path):
    rows = np.arange(5 * 4 * 3, dtype=np.float32).reshape(5, 4, 3)
    with NpyAppender(tmp_path / "a.npy", (4, 3), np.float32) as out:
        out.append(rows[:2])
        out.append(rows[2:])
    assert np.array_equal(np.load(tmp_path / "a.npy"), rows)
    assert npy_rows(tmp_path / "a.npy") == 5
    assert np.array_equal(read_rows(tmp_path / "a.npy", 1, 3), rows[1:3])


def test_npy_appender_leaves_nothing_on_error(tmp_path):
    with pytest.raises(RuntimeError), NpyAppender(tmp_path / "b.npy", (2,), np.float32) as out:
        out.append(np.zeros((3, 2)))
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []


def test_gap_plan_interpolates_short_and_excludes_long():
    found = np.ones(40, bool)
    found[5:7] = False  # short, interior
    found[20:30] = False  # long
    found[:1] = False  # at the start: nothing to interpolate from
    plan = plan_gaps(found, max_gap_frames=3)
    assert plan.interpolated == [(5, 7)]
    assert plan.excluded == [(0, 1), (20, 30)]
    assert runs(~plan.usable) == [(0, 1), (20, 30)]
    values = np.arange(40, dtype=float)[:, None]
    values[~found] = np.nan
    filled = fill_gaps(values, found, plan.interpolated)
    assert filled[5, 0] == pytest.approx(5.0) and filled[6, 0] == pytest.approx(6.0)


def test_filters_have_no_lag_and_keep_slow_motion():
    t = np.arange(200) / 25.0
    signal = 10 * np.sin(2 * np.pi * 0.5 * t)[:, None]  # slow head sway, 0.5 Hz
    valid = np.ones(200, bool)
    smooth = local_quadratic_filter(signal, valid, sigma_frames=2.5)
    assert np.max(np.abs(smooth - signal)[10:-10]) < 0.1  # < 1 % of the amplitude
    # A fast step (a lip opening) passes the bilateral filter unchanged: no lag, no ramp.
    step = np.where(np.arange(60) >= 30, 8.0, 0.0)[:, None]
    out = bilateral_filter(step, np.ones(60, bool), sigma_frames=1.0, sigma_value=np.array([0.5]))
    assert np.allclose(out, step, atol=1e-3)
    # ... while jitter is reduced.
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.3, (400, 1))
    assert bilateral_filter(noise, np.ones(400, bool), 1.0, np.array([0.9])).std() < 0.7 * noise.std()


def test_mesh_triangles_and_stable_points():
    triangles = mesh_triangles()
    assert triangles.shape[1] == 3 and len(triangles) > 800 and triangles.max() < 468
    rng = np.random.default_rng(1)
    shape = rng.uniform(0, 100, (478, 3))
    shape[2, 1] = 60  # nose base
    shape[[33, 133, 362, 263], :2] = [[20, 30], [30, 30], [60, 30], [70, 30]]  # level eyes
    stable = set(stable_indices(shape).tolist())
    assert not stable & set(landmark_set("lips")), "lips must never count as stable"
    assert {33, 133, 362, 263} <= stable
    assert all(shape[i, 1] < 60 for i in stable - {33, 133, 362, 263})


def test_pnp_recovers_a_known_pose():
    rng = np.random.default_rng(2)
    points = rng.normal(0, 40, (478, 3))
    model = HeadModel(points=points, stable=np.arange(0, 478, 3))
    camera = PinholeCamera.centred(512, 512, 900.0)
    truth = Pose(rotation_from_euler(0.1, -0.2, 0.05), np.array([10.0, -5.0, 900.0]))
    landmarks = project_model(model, truth.rotation[None], truth.translation[None], camera)[0]
    landmarks = np.concatenate([landmarks, np.zeros((478, 1))], axis=1)
    start = Pose(np.eye(3), np.array([0.0, 0.0, 800.0]))
    pose = fit_pose(model, landmarks, camera, start)
    assert np.allclose(pose.rotation, truth.rotation, atol=1e-5)
    assert np.allclose(pose.translation, truth.translation, atol=1e-3)


def test_pose_track_follows_the_head_through_gaps_and_across_blocks(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    model = HeadModel(points=rng.normal(0, 40, (478, 3)), stable=np.arange(0, 478, 3))
    camera = PinholeCamera.centred(512, 512, 900.0)
    n, fps = 60, 25.0
    roll = 0.1 * np.sin(2 * np.pi * 0.5 * np.arange(n) / fps)  # a slow 0.5 Hz head roll
    truth = np.stack([rotation_from_euler(0.1, -0.2, r) for r in roll])
    shift = np.array([10.0, -5.0, 900.0])
    landmarks = project_model(model, truth, np.tile(shift, (n, 1)), camera)
    landmarks = np.concatenate([landmarks, np.zeros((n, 478, 1))], axis=2).astype(np.float32)
    found = np.ones(n, bool)
    found[29:32] = False  # a short gap: interpolated (in blocks of 16, the first block's halo ends in it)
    landmarks[~found] = np.nan
    np.save(tmp_path / "raw.npy", landmarks)
    raw = RawTrack(tmp_path / "raw.npy", Fraction(25), 512, 512, found, np.zeros(n))
    plan = plan_gaps(found, 6)
    halo = halo_frames(pose_sigma_frames(fps), fps)
    assert halo == 8 + 6 + 2  # 3 sigma of the 0.1 s pose filter (7.5 frames), the longest gap, its anchors

    def track(frames: range | None = None) -> tuple[np.ndarray, np.ndarray]:
        blocks = list(fit_pose_track(raw, plan, model, camera, halo=halo, frames=frames))
        return tuple(np.concatenate(parts) for parts in zip(*(b.own_poses() for b in blocks), strict=True))

    rotations, translations = track()
    between = np.einsum("nji,njk->nik", rotations, truth)
    angle = np.arccos(np.clip((np.trace(between, axis1=1, axis2=2) - 1) / 2, -1, 1))
    assert angle.max() < 0.01  # radians, the gap included
    assert np.abs(translations - shift).max() < 1.0
    # Blocks of 16 frames (each with its halo) and a cut range give the one-pass answer.
    monkeypatch.setattr(poses, "BLOCK_FRAMES", 16)
    assert [(b.lo, b.start, b.stop) for b in fit_pose_track(raw, plan, model, camera, halo=halo)] == [
        (0, 0, 16),
        (0, 16, 32),
        (16, 32, 48),
        (32, 48, 60),
    ]
    in_blocks = track()
    np.testing.assert_allclose(in_blocks[0], rotations, atol=1e-6)
    np.testing.assert_allclose(in_blocks[1], translations, atol=1e-2)
    cut = track(range(10, 40))
    np.testing.assert_allclose(cut[0], rotations[10:40], atol=1e-6)


def test_rasterised_triangle_interpolates_depth():
    vertices = np.array([[10.0, 10.0], [50.0, 10.0], [10.0, 50.0]])
    depth = rasterise_mesh(vertices, np.array([100.0, 200.0, 300.0]), np.array([[0, 1, 2]]), (64, 64))
    assert depth[10, 10] == pytest.approx(100.0)
    assert depth[10, 30] == pytest.approx(150.0)  # halfway along the top edge
    assert depth[30, 10] == pytest.approx(200.0)  # halfway along the left edge
    assert depth[60, 60] == 0.0  # outside


def test_canonical_depth_covers_the_head_and_recedes():
    ys, xs = np.mgrid[0:9, 0:9]
    grid = np.stack([100 + 10 * xs.ravel(), 100 + 12 * ys.ravel()], axis=1).astype(float)
    z = 1000 - 0.02 * ((grid[:, 0] - 140) ** 2 + (grid[:, 1] - 148) ** 2)  # a bump, nearest in the middle
    triangles = []
    for r in range(8):
        for c in range(8):
            a = r * 9 + c
            triangles += [[a, a + 1, a + 9], [a + 1, a + 10, a + 9]]
    outline = [0, 8, 80, 72]
    result = canonical_depth(grid, z, np.array(triangles), np.array(outline), (300, 300))
    assert result.face_mask[148, 140] and result.head_mask[75, 140] and not result.face_mask[75, 140]
    assert (result.depth > 0).all()
    edge = result.depth[148, 180]
    assert result.depth[148, 200] > edge  # beyond the face the head curves away from the camera


def test_soft_mask_and_its_identity_warp():
    box = MouthBox(x0=20, y0=30, width=40, height=24, mouth_width=30.0)
    mask = soft_mask(box, (100, 100))
    assert mask[42, 40] == pytest.approx(1.0) and mask[5, 5] == 0.0 and mask[29, 40] == 0.0
    assert 0.0 < mask[31, 40] < 1.0  # feathered border
    ys, xs = torch.meshgrid(torch.arange(100.0), torch.arange(100.0), indexing="ij")
    identity = torch.stack([xs, ys], dim=-1)
    assert torch.allclose(observed_mask(mask, identity), torch.from_numpy(mask), atol=1e-5)
