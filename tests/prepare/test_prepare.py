"""`prepare` end to end: tracking quality on the sample speaker, gaps, faces, bad input, real footage."""

from __future__ import annotations

import json
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2l_model.media import VideoWriter, iter_frames
from s2l_model.prepare.inspect import debug_files, inspect
from s2l_model.prepare.pipeline import prepare_video
from s2l_model.prepare.workfolder import PrepFolder
from s2l_model.sample import read_truth_csv
from s2l_model.sample.face import TalkingHead, detect_landmarks, sample_face_image

MARGIN_PX = 3


def _s2l(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "s2l_cli", *args], capture_output=True, text=True, timeout=600
    )


def _still_points() -> np.ndarray:
    """Landmarks outside the region the sample renderer animates (lower lip, jaw, chin)."""
    image = sample_face_image()
    landmarks = detect_landmarks(image)
    x0, y0, x1, _ = TalkingHead(image, landmarks).roi
    lm = landmarks[:468]
    inside = (lm[:, 0] > x0 - MARGIN_PX) & (lm[:, 0] < x1 + MARGIN_PX) & (lm[:, 1] > y0 - MARGIN_PX)
    return np.flatnonzero(~inside)


def test_sample_speaker_jitter_below_a_third_of_a_pixel(prepared_sample):
    points = _still_points()
    files = PrepFolder(prepared_sample.workdir)
    filtered = np.load(files.landmarks)[:, points, :2]
    raw = np.load(files.landmarks_raw)[:, points, :2]
    jitter, raw_jitter = filtered.std(axis=0), raw.std(axis=0)
    assert jitter.mean() < 0.3, f"non-mouth jitter {jitter.mean():.3f} px (std, mean over points)"
    assert jitter.mean() < raw_jitter.mean(), "filtering must reduce jitter"
    assert np.percentile(jitter, 95) < 0.4


def test_filtering_does_not_lag_or_flatten_the_lips(prepared_sample, sample_speaker):
    truth = read_truth_csv(sample_speaker.truth)["opening_px"]
    files = PrepFolder(prepared_sample.workdir)
    filtered = np.load(files.landmarks)
    raw = np.load(files.landmarks_raw)
    gap_filtered = filtered[:, 14, 1] - filtered[:, 13, 1]
    gap_raw = raw[:, 14, 1] - raw[:, 13, 1]
    assert np.corrcoef(gap_filtered, truth)[0, 1] > 0.95
    centred = [(g - g.mean()) for g in (gap_filtered, gap_raw)]
    lags = range(-5, 6)
    xcorr = [np.sum(np.roll(centred[0], k) * centred[1]) for k in lags]
    assert list(lags)[int(np.argmax(xcorr))] == 0, "filtered lips must not lag the raw detections"
    amplitude = np.ptp(gap_filtered) / np.ptp(gap_raw)
    assert amplitude > 0.9, f"filtered lip motion keeps only {amplitude:.0%} of its range"


def test_sample_geometry_is_consistent(prepared_sample):
    p = prepared_sample
    files = PrepFolder(p.workdir)
    info = json.loads(files.geometry.read_text())
    assert info == p.summary  # what prepare returns is what it wrote
    opening = np.load(files.frames)["mouth_open"]
    assert info["canonical"]["chosen_by"] == "score"
    assert opening[p.canonical.frame] <= np.percentile(opening, 10), (
        "canonical mouth should be (nearly) closed"
    )
    assert info["excluded"] == [] and info["frames_usable"] == p.tracks.n_frames
    b = p.box
    lm = p.landmarks(p.canonical.frame, p.canonical.frame + 1)[0]
    assert b.x0 < lm[61, 0] and lm[291, 0] < b.x0 + b.width, "mouth corners inside the box"
    assert b.y0 < lm[0, 1] and lm[17, 1] < b.y0 + b.height, "lips inside the box"
    result = inspect(p, pictures=True)
    assert result.roundtrip_px < 0.5
    assert result.landmark_agreement_px < 2.0
    for path in debug_files(p.workdir):
        assert path.is_file() and path.stat().st_size > 0
    assert cv2.imread(str(files.debug / "motion.png")) is not None


@pytest.fixture(scope="module")
def covered_video(sample_speaker, tmp_path_factory) -> tuple[Path, tuple[int, int], tuple[int, int]]:
    """The sample with its face covered for 20 % of the frames (one long gap) plus a 2-frame gap."""
    long_gap, short_gap = (80, 120), (30, 32)
    path = tmp_path_factory.mktemp("covered") / "covered.mp4"
    frames = list(iter_frames(sample_speaker.video))
    with VideoWriter(path, fps=Fraction(25), size=(512, 512), codec="h264", preset="ultrafast") as out:
        for k, frame in enumerate(frames):
            if long_gap[0] <= k < long_gap[1] or short_gap[0] <= k < short_gap[1]:
                frame = frame.copy()
                frame[20:300, 120:340] = 128  # a grey card over the whole face
            out.write(frame)
    return path, long_gap, short_gap


def test_face_lost_for_a_fifth_of_the_video_is_reported(covered_video, tmp_path):
    path, long_gap, short_gap = covered_video
    result = _s2l("profile", "prepare", str(path), "--workdir", str(tmp_path / "w"))
    assert result.returncode == 0, result.stderr
    assert "excluded" in result.stderr and "3.20-4.80 s" in result.stderr
    files = PrepFolder(tmp_path / "w")
    info = json.loads(files.geometry.read_text())
    assert [(r["start_frame"], r["stop_frame"]) for r in info["excluded"]] == [long_gap]
    assert [(r["start_frame"], r["stop_frame"]) for r in info["interpolated"]] == [short_gap]
    landmarks = np.load(files.landmarks)
    assert np.isnan(landmarks[long_gap[0] : long_gap[1]]).all()
    assert np.isfinite(landmarks[short_gap[0] : short_gap[1]]).all()


def test_no_face_anywhere_is_a_one_line_error(make_video, tmp_path):
    video = make_video("noface.mp4", 25, Fraction(25), size=(160, 120))
    result = _s2l("profile", "prepare", str(video), "--workdir", str(tmp_path / "w"))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("s2l: error: no face found")
    assert "Traceback" not in result.stderr


def _face_patch(scale: float) -> np.ndarray:
    face = sample_face_image()[0:300, 100:360]
    return cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _write_still(path: Path, frame: np.ndarray, n: int = 12) -> Path:
    with VideoWriter(
        path, fps=Fraction(25), size=(frame.shape[1], frame.shape[0]), codec="h264", preset="ultrafast"
    ) as out:
        for _ in range(n):
            out.write(frame)
    return path


def test_several_faces_largest_by_default_and_face_option(tmp_path):
    frame = np.full((400, 800, 3), 90, np.uint8)
    small, large = _face_patch(0.8), _face_patch(1.1)
    frame[40 : 40 + small.shape[0], 40 : 40 + small.shape[1]] = small
    frame[40 : 40 + large.shape[0], 480 : 480 + large.shape[1]] = large[: 400 - 40]
    video = _write_still(tmp_path / "two.mp4", frame)
    default = prepare_video(video, tmp_path / "default")
    assert default.landmarks(0, 1)[0, :, 0].mean() > 400, "the larger (right) face by default"
    first = prepare_video(video, tmp_path / "first", face_number=1)
    assert first.landmarks(0, 1)[0, :, 0].mean() < 400, "--face 1 is the leftmost"
    bad = _s2l("profile", "prepare", str(video), "--workdir", str(tmp_path / "bad"), "--face", "3")
    assert bad.returncode == 2 and "only 2 face(s) found" in bad.stderr


def test_small_face_in_a_portrait_frame_is_tracked_on_a_crop(tmp_path):
    frame = np.full((1920, 1080, 3), 70, np.uint8)
    face = _face_patch(0.5)  # the face itself is ~60 px wide in a 1080x1920 frame
    frame[1300 : 1300 + face.shape[0], 700 : 700 + face.shape[1]] = face
    prepared = prepare_video(_write_still(tmp_path / "portrait.mp4", frame, n=8), tmp_path / "w")
    lm = prepared.landmarks(0, prepared.tracks.n_frames)
    assert np.isfinite(lm).all()
    assert (lm[..., 0] > 700).all() and (lm[..., 0] < 700 + face.shape[1]).all()
    assert (lm[..., 1] > 1300).all() and (lm[..., 1] < 1300 + face.shape[0]).all()


@pytest.fixture(scope="module")
def prepared_anchor(cnn_anchor, tmp_path_factory):
    return prepare_video(cnn_anchor, tmp_path_factory.mktemp("anchor"))


def test_dev_clip_geometry_acceptance(prepared_anchor):
    """O2C∘C2O returns home, warped frames agree with the canonical frame, lips still move."""
    result = inspect(prepared_anchor, pictures=True)
    assert result.roundtrip_px < 0.5
    assert result.landmark_agreement_px < 2.0
    assert result.motion_ratio_after > result.motion_ratio_before
    assert result.motion_ratio_after > 1.2
    assert prepared_anchor.tracks.usable.all()


def test_canonical_frame_can_be_chosen_by_the_user(sample_speaker, tmp_path):
    chosen = prepare_video(sample_speaker.video, tmp_path / "w", canonical_frame=5, max_frames=30)
    assert chosen.canonical.frame == 5 and chosen.canonical.chosen_by == "user"
    info = json.loads(PrepFolder(tmp_path / "w").geometry.read_text())
    assert info["canonical"]["frame"] == 5
    bad = _s2l(
        "profile",
        "prepare",
        str(sample_speaker.video),
        "-w",
        str(tmp_path / "b"),
        "--canonical-frame",
        "9999",
    )
    assert bad.returncode == 2 and "the video has 200 frames" in bad.stderr
    assert not (tmp_path / "b").exists(), "nothing is written for an invalid request"
