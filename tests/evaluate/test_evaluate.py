"""Evaluation end to end: the dev clip against itself, sync separation, reports and the command."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest

from s2l_model.evaluate import EvaluateConfig, evaluate_videos
from s2l_model.evaluate.report import summary_rows, write_report
from s2l_model.media import Speech, VideoWriter, iter_frames, load_speech, probe_video
from s2l_model.metrics.image import PSNR_CAP_DB
from s2l_model.metrics.sync import envelope_sync, phone_sync
from s2l_model.tracking.refine import mouth_opening
from s2l_model.tracking.track import track_video
from tests.conftest import shared_file
from tests.support import assert_one_line_error, run_s2l


def test_dev_clip_against_itself(cnn_anchor):
    result = evaluate_videos(cnn_anchor, cnn_anchor, config=EvaluateConfig(max_frames=24, phones=False))
    assert result.n_frames == 24 and result.mode == "reference"
    assert np.all(result.columns["psnr_mouth"] == PSNR_CAP_DB)
    assert np.all(result.columns["psnr_frame"] == PSNR_CAP_DB)
    assert np.allclose(result.columns["ssim_mouth"], 1.0)
    assert np.all(result.columns["lmd_px"] == 0) and np.all(result.columns["lmd_iod"] == 0)
    assert np.allclose(result.columns["stlpips_mouth"], 0.0, atol=1e-6)
    assert np.array_equal(result.columns["cpbd_frame"], result.columns["cpbd_frame_truth"])
    # the mouth region sits on the lips: the anchor's mouth is in the lower middle of the 512x512 frame
    assert "px box centred on the reference lips" in result.region


@pytest.fixture(scope="module")
def dev_opening(cnn_anchor, tmp_path_factory) -> np.ndarray:
    track = track_video(cnn_anchor, tmp_path_factory.mktemp("dev_track"))
    return mouth_opening(np.load(track.landmarks_path))


def test_sync_separates_synced_from_unsynced_speech(cnn_anchor, dev_opening):
    fps = float(probe_video(cnn_anchor).video.fps)
    own = load_speech(cnn_anchor)
    lag = round(10 * own.sample_rate / fps)  # the same speech, 10 frames late
    late = Speech(
        np.concatenate([np.zeros(lag, np.float32), own.samples])[: len(own.samples)], own.sample_rate
    )
    other = load_speech(shared_file("speech/english_60s.wav"))
    for measure in (envelope_sync, phone_sync):
        synced = measure(dev_opening, own, fps)
        shifted = measure(dev_opening, late, fps)
        stranger = measure(dev_opening, other, fps)
        assert abs(synced.offset) <= 1, (measure.__name__, synced)
        assert shifted.offset == 10, (measure.__name__, shifted.offset)  # found, with the right sign
        # "clearly higher": by more than half of the synced score itself
        assert synced.score > 0 and synced.score - shifted.score > 0.5 * synced.score, measure.__name__
        assert synced.score - stranger.score > 0.5 * synced.score, measure.__name__
        assert synced.confidence > stranger.confidence, measure.__name__


@pytest.fixture(scope="module")
def degraded_sample(sample_speaker, tmp_path_factory) -> Path:
    """The sample speaker blurred and darkened: a prediction with known, visible errors."""
    info = probe_video(sample_speaker.video)
    path = tmp_path_factory.mktemp("degraded") / "degraded.mp4"
    size = (info.video.width, info.video.height)
    with VideoWriter(path, fps=info.video.fps, size=size, preset="ultrafast", n_frames=30) as writer:
        for frame in iter_frames(sample_speaker.video, max_frames=30):
            writer.write(
                np.clip(cv2.GaussianBlur(frame, (0, 0), 2.0).astype(int) - 12, 0, 255).astype(np.uint8)
            )
    return path


class _Links(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("src", "href") and value:
                self.links.append(value)


def test_report_files_are_complete_and_every_link_resolves(sample_speaker, degraded_sample, tmp_path):
    config = EvaluateConfig(max_frames=30, worst_frames=3, frame_lpips_samples=4)
    result = evaluate_videos(
        degraded_sample, sample_speaker.video, speech=sample_speaker.speech, config=config
    )
    assert result.mean("psnr_mouth") < 40 and result.mean("ssim_mouth") < 0.99
    assert result.mean("cpbd_mouth") < result.mean("cpbd_mouth_truth")  # blurred is less sharp
    assert result.count("stlpips_frame") == 4
    folder = write_report(result, tmp_path / "report")
    page = (folder / "report.html").read_text()
    parser = _Links()
    parser.feed(page)
    images = [link for link in parser.links if link.endswith(".png")]
    assert len(images) >= 3 + 3  # plots and the three worst frames
    for link in parser.links:
        assert not re.match(r"^[a-z]+:", link) and not link.startswith("/"), link  # relative only
        assert (folder / link).is_file(), link
    # strict JSON: no NaN/Infinity tokens
    metrics = json.loads((folder / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(c))
    assert metrics["frames"] == 30 and len(metrics["per_frame"]["psnr_mouth"]) == 30
    assert {row["metric"] for row in metrics["summary"]} == {"PSNR", "SSIM", "LPIPS", "CPBD", "LMD", "Sync"}
    lines = (folder / "frames.csv").read_text().splitlines()
    assert len(lines) == 31 and lines[0].startswith("frame,time_s,")
    assert len((folder / "summary.csv").read_text().splitlines()) == 1 + len(summary_rows(result))
    with pytest.raises(Exception, match="already exists"):
        write_report(result, folder)
    write_report(result, folder, overwrite=True)  # an earlier report may be replaced
    assert (folder / "report.html").is_file()
    other = tmp_path / "my_documents"
    other.mkdir()
    (other / "thesis.txt").write_text("keep me")
    with pytest.raises(Exception, match="not an s2l report"):
        write_report(result, other, overwrite=True)
    assert (other / "thesis.txt").read_text() == "keep me"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".report.")]  # no temporary left


def test_no_reference_mode_measures_sharpness_and_sync_only(sample_speaker):
    result = evaluate_videos(
        sample_speaker.video, speech=sample_speaker.speech, config=EvaluateConfig(max_frames=20)
    )
    assert result.mode == "no-reference"
    assert "psnr_mouth" not in result.columns and "lmd_px" not in result.columns
    assert 0 < result.mean("cpbd_frame") <= 1
    assert "prediction/envelope" in result.sync
    assert {r.metric for r in summary_rows(result)} == {"CPBD", "Sync"}


def test_command_prints_the_papers_columns(sample_speaker, degraded_sample, tmp_path):
    report = tmp_path / "r"
    proc = run_s2l(
        "evaluate", "--pred", str(degraded_sample), "--ref", str(sample_speaker.video),
        "--speech", str(sample_speaker.speech), "--max-frames", "12", "--frame-lpips", "2",
        "--report", str(report),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    for column in ("PSNR", "SSIM", "LPIPS", "CPBD", "LMD", "Sync"):
        assert re.search(rf"^\W*{column}\b", proc.stdout, re.M), column
    assert "ST-LPIPS" in proc.stdout and "mouth region" in proc.stdout and "whole frame" in proc.stdout
    assert (report / "report.html").is_file()
    again = run_s2l("evaluate", "--pred", str(degraded_sample), "--report", str(report))
    assert_one_line_error(again, "already exists")


def test_command_json_and_bad_input(sample_speaker, degraded_sample, make_video, tmp_path):
    proc = run_s2l(
        "evaluate", "--pred", str(degraded_sample), "--speech", str(sample_speaker.speech),
        "--max-frames", "8", "--no-report", "--no-phones", "--json",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    result = [e for e in events if e["event"] == "result"]
    assert len(result) == 1 and result[0]["frames"] == 8 and result[0]["report"] is None
    assert {row["metric"] for row in result[0]["summary"]} == {"CPBD", "Sync"}
    small = make_video("small.mp4", 5, probe_video(degraded_sample).video.fps, size=(96, 64))
    mismatch = run_s2l("evaluate", "--pred", str(small), "--ref", str(sample_speaker.video), "--no-report")
    assert_one_line_error(mismatch, "frame sizes differ")
    missing = run_s2l("evaluate", "--pred", str(tmp_path / "nope.mp4"))
    assert_one_line_error(missing, "nope.mp4")


def test_syncnet_weights_give_lse_rows(sample_speaker, degraded_sample, tmp_path):
    """--syncnet runs the whole LSE path; random weights stand in for the public file (not available)."""
    import torch

    from s2l_model.metrics.syncnet import SyncNet

    torch.manual_seed(0)
    weights = tmp_path / "syncnet_v2.model"
    torch.save(SyncNet().state_dict(), weights)
    config = EvaluateConfig(max_frames=12, phones=False, frame_lpips_samples=1, syncnet=weights)
    result = evaluate_videos(
        degraded_sample, sample_speaker.video, speech=sample_speaker.speech, config=config
    )
    assert set(result.lse) == {"prediction", "truth"}
    assert all(np.isfinite(r.lse_d) and np.isfinite(r.lse_c) for r in result.lse.values())
    variants = [r.variant for r in summary_rows(result) if r.metric == "Sync"]
    assert any(v.startswith("LSE-C") for v in variants) and any(v.startswith("LSE-D") for v in variants)


class _TruthRenderer:
    """Gives back the source's own frames: a perfect renderer."""

    def __init__(self, video: Path, reverse: bool = False) -> None:
        self.video, self.reverse = video, reverse
        self.speech_seconds = 0.0

    def render(self, frames, speech):
        self.speech_seconds = speech.duration
        fps = probe_video(self.video).video.fps
        images = list(iter_frames(self.video, start=float(frames.start / fps), max_frames=len(frames)))
        yield from (images[::-1] if self.reverse else images)


def test_heldout_protocol_renders_the_last_tenth_with_its_speech(sample_speaker, tmp_path):
    from s2l_model.dataset.split import heldout_range
    from s2l_model.evaluate.heldout import evaluate_heldout

    info = probe_video(sample_speaker.video)
    frames = heldout_range(info.video.n_frames, 0.1)
    assert frames == range(180, 200)  # 8 s at 25 fps: the last 20 frames
    config = EvaluateConfig(phones=False, frame_lpips_samples=2)
    perfect = _TruthRenderer(sample_speaker.video)
    (tmp_path / "a").mkdir()
    result = evaluate_heldout(sample_speaker.video, frames, perfect, tmp_path / "a", config=config)
    assert perfect.speech_seconds == pytest.approx(20 / 25, abs=1e-3)  # the speech under those frames
    assert result.n_frames == 20
    assert np.all(result.columns["psnr_frame"] == PSNR_CAP_DB)  # FFV1 on both sides: lossless
    assert np.all(result.columns["lmd_px"] == 0)
    (tmp_path / "b").mkdir()
    backwards = evaluate_heldout(
        sample_speaker.video,
        frames,
        _TruthRenderer(sample_speaker.video, reverse=True),
        tmp_path / "b",
        config=config,
    )
    assert backwards.mean("psnr_mouth") < 60 and backwards.mean("lmd_px") > 0.1


def test_prediction_without_a_face_is_measured_not_refused(sample_speaker, tmp_path):
    info = probe_video(sample_speaker.video)
    blank = tmp_path / "blank.mp4"
    size = (info.video.width, info.video.height)
    with VideoWriter(blank, fps=info.video.fps, size=size, preset="ultrafast", n_frames=10) as writer:
        for _ in range(10):
            writer.write(np.full((size[1], size[0], 3), 90, np.uint8))
    config = EvaluateConfig(max_frames=10, phones=False, frame_lpips_samples=1, worst_frames=0)
    result = evaluate_videos(blank, sample_speaker.video, speech=sample_speaker.speech, config=config)
    assert any("no face found in the prediction" in note for note in result.notes)
    assert np.isnan(result.columns["lmd_px"]).all() and np.isfinite(result.columns["psnr_mouth"]).all()
    assert result.worst == []
