"""The real lip detail bank: exemplars spread over the code space, high-passed luma, added by nearest code."""

from __future__ import annotations

import numpy as np
import torch

from s2l_model.fields.detail import (
    BANK_BYTES,
    DETAIL_RANGE,
    LipDetailBank,
    bank_size,
    exemplar_frames,
    luma_detail,
)

H, W = 12, 16


def checkerboard(amplitude: float) -> np.ndarray:
    """(H, W, 3) uint8 grey lips with a ±amplitude (of 255) pixel checkerboard: all detail, no shape."""
    ys, xs = np.mgrid[:H, :W]
    grey = 128 + amplitude * (1 - 2 * ((ys + xs) % 2))
    return np.repeat(grey[..., None], 3, axis=2).astype(np.uint8)


def test_the_bank_is_capped_by_bytes_and_by_the_frames_there_are() -> None:
    assert bank_size(512, 120, 88, 1600) == 512
    assert bank_size(512, 120, 88, 300) == 300
    assert bank_size(512, 250, 180, 7500) == BANK_BYTES // (250 * 180) < 512  # a 1080p face
    assert bank_size(0, 120, 88, 1600) == 0


def test_exemplars_come_from_every_part_of_the_code_space() -> None:
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    codes = np.concatenate([c + 0.1 * rng.standard_normal((50, 2)) for c in centres])
    picked = exemplar_frames(codes, 3)
    assert len(set(picked.tolist())) == 3
    assert sorted((picked // 50).tolist()) == [0, 1, 2]  # one frame of each cluster
    assert len(exemplar_frames(codes, 0)) == 0


def test_each_code_gets_the_detail_of_its_nearest_exemplar_and_flat_lips_keep_their_look() -> None:
    bank = LipDetailBank(4, 2, W, H, sigma=1.0)
    valid = np.ones((H, W), bool)
    bank.fill(np.array([[0.0, 0.0], [5.0, 0.0]]), [checkerboard(20), checkerboard(0)], [valid, valid])
    assert int(bank.filled) == 2  # two of the four rows in use
    lips = torch.full((2, 3, H, W), 0.5)
    out = bank.add(lips, torch.tensor([[0.4, -0.2], [4.0, 1.0]]))
    change = out - lips
    # the first frame's nearest exemplar is the textured one: its detail, the same in every channel
    expected = luma_detail(torch.from_numpy(checkerboard(20) / 255).permute(2, 0, 1)[None].float(), 1.0)
    assert torch.allclose(change[0], expected[0].expand(3, -1, -1), atol=DETAIL_RANGE / 127)
    assert change[0].abs().amax() > 0.03
    assert change[1].abs().amax() == 0  # the flat exemplar has no detail to give
    assert torch.equal(LipDetailBank(4, 2, W, H, 1.0).add(lips, torch.zeros(2, 2)), lips)  # empty bank


def test_pixels_the_warp_did_not_reach_carry_no_detail() -> None:
    bank = LipDetailBank(1, 2, W, H, sigma=1.0)
    valid = np.ones((H, W), bool)
    valid[:, : W // 2] = False
    bank.fill(np.zeros((1, 2)), [checkerboard(30)], [valid])
    change = bank.add(torch.full((1, 3, H, W), 0.5), torch.zeros(1, 2)) - 0.5
    assert change[..., : W // 2].abs().amax() == 0
    assert change[..., W // 2 + 2 :].abs().amax() > 0.05


def test_a_profile_layout_from_before_the_bank_has_none() -> None:
    from s2l_model.geometry.camera import PinholeCamera
    from s2l_model.geometry.crop import Rect
    from s2l_model.models.speaker import SceneLayout

    layout = SceneLayout(
        width=64,
        height=48,
        camera=PinholeCamera(focal=60.0, cx=31.5, cy=23.5),
        lip_box=Rect(20, 20, 9, 6),
        blend_box=Rect(16, 16, 17, 14),
        patch=Rect(12, 12, 25, 22),
        crop_size=(20, 16),
        lip_train_size=(9, 6),
        sync_size=(9, 6),
        sync_mel_frames=20,
        detail_exemplars=12,
    )
    stored = layout.to_dict()
    assert SceneLayout.from_dict(stored) == layout
    del stored["detail_exemplars"]  # a manifest written before the bank existed
    assert SceneLayout.from_dict(stored).detail_exemplars == 0


def test_a_built_profile_stores_its_bank_and_renders_with_it(tiny_profile) -> None:
    from s2l_model.profile.speaker import SpeakerProfile

    profile = SpeakerProfile.load(tiny_profile)
    model = profile.model
    assert model.detail is not None and int(model.detail.filled) > 0  # filled at build, back from the file
    assert model.detail.detail.dtype == torch.int8 and model.detail.detail.abs().amax() > 0
    codes = torch.from_numpy(np.nan_to_num(profile.arrays["mouth_codes"][:4]).astype(np.float32))
    seconds = torch.zeros(4)
    box = model.layout.lip_box
    with torch.no_grad():
        bare = model.field.render(model.condition_codes(codes, seconds), box.width, box.height)
        shown = model.render_lips(codes, seconds)
        picked = model.detail.detail[model.detail.nearest(codes)].float() * (DETAIL_RANGE / 127)
    assert torch.allclose(shown - bare, picked[:, None].expand(-1, 3, -1, -1), atol=1e-6)
