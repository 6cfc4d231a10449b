"""The square mouth box (``mouth_square``): hand-checkable geometry, and its figures in ``s2l evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from s2l_model.evaluate import EvaluateConfig, evaluate_videos
from s2l_model.evaluate.report import evaluation_dict, summary_rows
from s2l_model.media import VideoWriter, iter_frames, probe_video
from s2l_model.metrics.image import PSNR_CAP_DB
from s2l_model.metrics.landmarks import lip_points, mouth_regions, square_mouth_regions
from s2l_model.tracking.store import read_rows
from s2l_model.tracking.track import track_video


def _lips(n: int, centre: tuple[float, float], mouth_width: float) -> np.ndarray:
    """(n, 478, 3) landmarks: lip points spread symmetrically around ``centre``, the outer corners
    ``mouth_width`` apart (the lip centroid is exactly ``centre``)."""
    lm = np.zeros((n, 478, 3))
    lm[:, :, :2] = centre
    lips = lip_points()
    rng = np.random.default_rng(0)
    half = rng.uniform(-0.3, 0.3, (len(lips) // 2, 2)) * mouth_width
    lm[:, lips[: len(half)], :2] += half
    lm[:, lips[len(half) :], :2] -= half  # mirrored: the centroid stays on the centre
    lm[:, 61, :2] = (centre[0] - mouth_width / 2, centre[1])
    lm[:, 291, :2] = (centre[0] + mouth_width / 2, centre[1])
    return lm


def test_the_square_box_is_centred_on_the_lips_and_1_6_mouth_widths_a_side() -> None:
    ref = _lips(4, centre=(100.0, 120.0), mouth_width=40.0)
    ref[1, :, 0] += 30  # the head moves right on frame 1
    ref[2, 61, 0] -= 10  # one wider mouth: the median width (40) decides
    ref[2, 291, 0] += 10
    ref[3] = np.nan  # no face: the nearest frame's box
    square = square_mouth_regions(ref, 320, 240)
    box = mouth_regions(ref, 320, 240)
    assert (square.width, square.height) == (64, 64)  # 1.6 x 40 px each way
    assert (box.width, box.height) == (64, 44)  # the default box is unchanged
    assert square.x0[0] == 100 - 32 and square.y0[0] == 120 - 32
    assert square.x0[1] == 130 - 32 and square.x0[3] == square.x0[2]
    assert np.array_equal(square.x0, box.x0)  # same centre, same width
    assert "square, 1.6 mouth widths a side" in square.describe()
    assert "1.6 x 1.1 mouth widths" in box.describe()
    edge = square_mouth_regions(_lips(1, centre=(10.0, 235.0), mouth_width=40.0), 320, 240)
    assert edge.x0[0] == 0 and edge.y0[0] == 240 - 64  # kept inside the frame


def test_evaluate_reports_the_square_box_beside_the_default_one(sample_speaker, tmp_path: Path) -> None:
    """A prediction that differs from its truth only in the square's rows below the default box: the
    default mouth PSNR is the identical-frame cap, the square one is not."""
    n = 8
    info = probe_video(sample_speaker.video)
    v = info.video
    frames = list(iter_frames(sample_speaker.video, max_frames=n))
    truth = tmp_path / "truth.mkv"
    with VideoWriter(truth, fps=v.fps, size=(v.width, v.height), codec="ffv1", n_frames=n) as writer:
        for frame in frames:
            writer.write(frame)
    (tmp_path / "track").mkdir()
    track = track_video(truth, tmp_path / "track", max_frames=n)
    landmarks = read_rows(track.landmarks_path, 0, n)
    box = mouth_regions(landmarks, v.width, v.height)
    square = square_mouth_regions(landmarks, v.width, v.height)
    prediction = tmp_path / "prediction.mkv"
    with VideoWriter(prediction, fps=v.fps, size=(v.width, v.height), codec="ffv1", n_frames=n) as writer:
        for i, frame in enumerate(frames):
            out = frame.copy()
            below = int(box.y0[i]) + box.height  # the square's rows under the default box
            x0 = int(square.x0[i])
            out[below : int(square.y0[i]) + square.height, x0 : x0 + square.width] ^= 0x20
            writer.write(out)
    result = evaluate_videos(prediction, truth, config=EvaluateConfig(phones=False, frame_lpips_samples=1))
    assert np.all(result.columns["psnr_mouth"] == PSNR_CAP_DB)
    assert np.all(result.columns["psnr_mouth_square"] < 40)
    assert np.all(result.columns["ssim_mouth_square"] < 1) and np.allclose(result.columns["ssim_mouth"], 1)
    rows = {(r.metric, r.variant): r.prediction for r in summary_rows(result)}
    label = "square mouth box (1.6 mouth widths a side)"
    assert rows[("PSNR", f"{label}, dB")] < 40 and rows[("PSNR", "mouth region, dB")] == PSNR_CAP_DB
    assert ("SSIM", label) in rows
    payload = json.loads(json.dumps(evaluation_dict(result)))
    assert "square, 1.6 mouth widths a side" in payload["mouth_region_square"]
    assert len(payload["per_frame"]["psnr_mouth_square"]) == n
