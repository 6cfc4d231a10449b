"""Decode → encode round trips: frame count, duration and audio timing are kept."""

from fractions import Fraction

import numpy as np
import pytest

from s2l_model.media import (
    VideoWriter,
    estimate_offset,
    iter_frames,
    load_speech,
    probe_video,
    reencode,
)
from s2l_model.sample import synthesize_speech
from tests.conftest import pattern_frame


def _check_roundtrip(src, dst):
    before, after = probe_video(src), probe_video(dst)
    decoded = sum(1 for _ in iter_frames(dst))
    assert decoded == before.video.n_frames == after.video.n_frames
    assert abs(after.duration - before.video.duration) <= before.video.frame_duration
    ref, out = load_speech(src), load_speech(dst)
    offset = estimate_offset(ref.samples, out.samples, ref.sample_rate, max_lag=0.25)
    assert abs(offset) <= 0.010, f"audio moved by {offset * 1000:.2f} ms"
    return offset


@pytest.mark.slow
def test_roundtrip_cnn_anchor_mp3(cnn_anchor, tmp_path):
    _check_roundtrip(cnn_anchor, reencode(cnn_anchor, tmp_path / "cnn.mp4", preset="veryfast"))


def test_roundtrip_may_aac48k(may_clip, tmp_path):
    _check_roundtrip(may_clip, reencode(may_clip, tmp_path / "may.mp4", preset="veryfast"))


def test_roundtrip_prores_mov(may_clip, tmp_path):
    out = reencode(may_clip, tmp_path / "may.mov", codec="prores")
    info = probe_video(out)
    assert info.video.codec == "prores" and info.format_name.startswith("mov")
    _check_roundtrip(may_clip, out)


def test_roundtrip_generated_speech_is_in_sync(make_video, tmp_path):
    """Works without ../shared: synthetic speech muxed with video, re-encoded, still in sync."""
    speech = synthesize_speech(4.0, seed=5).speech
    src = make_video("talk.mp4", 100, Fraction(25), audio=speech)
    assert abs(estimate_offset(speech.samples, load_speech(src).samples, 16000)) <= 0.010
    _check_roundtrip(src, reencode(src, tmp_path / "talk2.mp4", preset="ultrafast"))


def test_lossless_ffv1_is_bit_exact(tmp_path):
    fps, n, size = Fraction(30000, 1001), 12, (70, 50)  # odd-ish sizes too
    frames = [pattern_frame(k, *size) for k in range(n)]
    out = tmp_path / "lossless.mkv"
    with VideoWriter(out, fps=fps, size=size, codec="ffv1", n_frames=n) as w:
        for f in frames:
            w.write(f)
    back = list(iter_frames(out))
    assert len(back) == n
    for a, b in zip(frames, back, strict=True):
        np.testing.assert_array_equal(a, b)
    assert probe_video(out).video.fps == fps


def test_ntsc_input_stays_ntsc(make_video, tmp_path):
    speech = synthesize_speech(3.0, seed=2).speech
    n = round(3.0 * 30000 / 1001)
    src = make_video("ntsc_talk.mp4", n, Fraction(30000, 1001), audio=speech)
    out = reencode(src, tmp_path / "ntsc_out.mp4", preset="ultrafast")
    info = probe_video(out)
    assert info.video.fps == Fraction(30000, 1001) and info.video.n_frames == n
    _check_roundtrip(src, out)


def test_resample_to_target_fps(make_video):
    src = make_video("25.mp4", 50, Fraction(25))  # 2.0 s
    frames = list(iter_frames(src, fps=Fraction(30000, 1001)))
    assert abs(len(frames) - round(2.0 * 30000 / 1001)) <= 1


def test_h264_odd_size_is_padded_not_resampled(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, fps=Fraction(25), size=(65, 33), n_frames=3, preset="ultrafast") as w:
        for k in range(3):
            w.write(pattern_frame(k, 65, 33))
    info = probe_video(out)
    assert (info.video.width, info.video.height) == (66, 34) and info.video.n_frames == 3
